module example.com/dist/c

go 1.26.0
