package all

// The debug translators.
import (
	_ "github.com/weftfs/weft/graph/xlators/debug/delay-gen"
	_ "github.com/weftfs/weft/graph/xlators/debug/error-gen"
	_ "github.com/weftfs/weft/graph/xlators/debug/io-stats"
	_ "github.com/weftfs/weft/graph/xlators/debug/trace"
)
