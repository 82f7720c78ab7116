package all

import (
	_ "github.com/weftfs/weft/bricks/posix" // storage/posix
)
