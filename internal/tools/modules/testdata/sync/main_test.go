package dist

import _ "example.com/dist/a/pkg"
