package all

import (
	_ "github.com/weftfs/weft/bricks/server"                 // protocol/server
	_ "github.com/weftfs/weft/graph/xlators/protocol/client" // protocol/client
)
