// Package glusterd reads volume definitions from a GlusterFS glusterd working directory
// (/var/lib/glusterd): a volume's layout (replica and arbiter counts), its bricks in order, its
// volume id, whether it was started, and the options set on it, so that `weft volume import`
// can take a GlusterFS volume over in place with nothing retyped by hand (a brick order typed
// wrong would pair the wrong bricks as replicas and point AFR's changelogs at the wrong ones).
//
// The format is glusterd's store (xlators/mgmt/glusterd/src/glusterd-store.c): vols/NAME/info
// holds key=value lines — the fixed keys (type, count, replica_count, arbiter_count,
// disperse_count, volume-id, status, ...), "brick-N" naming each brick's file under
// vols/NAME/bricks/ in the volume's brick order, and the options set with `gluster volume
// set`; each brick file holds hostname=, path= and brick-id= ("NAME-client-N"). Only reading:
// nothing here writes to glusterd's directory.
package glusterd
