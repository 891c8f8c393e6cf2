module example.com/dist/b

go 1.26.0

require example.com/other v1.0.0

// As git can merge two edits of one go.mod.
require example.com/dup v0.1.0

require example.com/dup v0.2.0 // indirect
