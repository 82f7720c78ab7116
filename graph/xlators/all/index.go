package all

import _ "github.com/weftfs/weft/graph/xlators/features/index" // features/index
