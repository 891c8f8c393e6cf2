module example.com/dist/b

go 1.26.0

require example.com/other v1.0.0
