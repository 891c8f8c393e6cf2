package x

import _ "fmt"
