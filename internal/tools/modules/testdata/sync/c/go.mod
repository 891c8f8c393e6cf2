module example.com/dist/c

go 1.26.0

require example.com/fromc v0.4.0
