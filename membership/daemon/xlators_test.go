package daemon

// The translators whose option specs the tests set (the weft binary registers them all through
// graph/xlators/all).
import (
	_ "github.com/weftfs/weft/bricks/posix"
	_ "github.com/weftfs/weft/bricks/server"
	_ "github.com/weftfs/weft/graph/xlators/debug/io-stats"
	_ "github.com/weftfs/weft/graph/xlators/features/locks"
	_ "github.com/weftfs/weft/graph/xlators/protocol/client"
)
