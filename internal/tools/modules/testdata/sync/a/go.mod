module example.com/dist/a

go 1.26.0

require example.com/dist/c v0.1.0

replace example.com/dist/c => ../c
