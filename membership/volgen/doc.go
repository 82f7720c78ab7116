// Package volgen generates a volume's volfiles from its definition: one brick volfile per brick
// (storage/posix → features/locks → debug/io-stats → protocol/server) and the client volfile
// (protocol/client per brick → cluster/replicate per replica set → cluster/distribute →
// enabled performance translators → debug/io-stats). Output is deterministic text printed with
// graph/volfile's printer.
//
// Volume options (`weft volume set`) are placed by resolving their key against the option specs
// the translators register: a key some translator of the graph declares (or aliases, as
// protocol/client's network.ping-timeout) goes to every such translator; otherwise
// "PREFIX.KEY" goes to the translators whose category or type name is PREFIX (cluster,
// features, storage, posix, replicate, …; diagnostics means debug/io-stats, as in GlusterFS).
// "performance.NAME on|off" switches the performance/NAME translator into the client graph.
// Options volgen itself writes (brick directory, ports, secrets, afr-pending-xattr) cannot be
// set.
//
// GlusterFS counterpart: glusterd-volgen.c (build_server_graph, build_client_graph, the
// glusterd_volopt_map). Names follow it: VOL-posix, VOL-locks, the brick path for the brick's
// io-stats (the name clients attach to), VOL-server; VOL-client-N, VOL-replicate-N, VOL-dht,
// and VOL for the client's io-stats top. Unlike GlusterFS, cluster/distribute is present even
// over a single subvolume, so growing a volume with add-brick keeps the graph's shape, and
// performance translators are off until enabled.
package volgen
