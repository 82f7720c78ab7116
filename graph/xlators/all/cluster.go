package all

import (
	_ "github.com/weftfs/weft/graph/xlators/cluster/distribute" // cluster/distribute
)
