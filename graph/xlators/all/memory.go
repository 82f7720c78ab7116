package all

import _ "github.com/weftfs/weft/graph/xlators/storage/memory" // storage/memory
