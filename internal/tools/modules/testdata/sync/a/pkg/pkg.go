package pkg

import _ "example.com/dist/b/x"
