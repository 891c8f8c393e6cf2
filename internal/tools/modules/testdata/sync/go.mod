module example.com/dist

go 1.26.0

require example.com/other v1.2.3
