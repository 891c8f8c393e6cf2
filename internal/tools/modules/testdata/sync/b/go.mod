module example.com/dist/b

go 1.26.0
