package all

import (
	_ "github.com/weftfs/weft/graph/xlators/cluster/distribute" // cluster/distribute
	_ "github.com/weftfs/weft/graph/xlators/cluster/replicate"  // cluster/replicate
)
