// Package nfstest is a minimal NFSv3 + MOUNT v3 client for tests, over graph/rpc's client. Its
// arguments are encoded and its results decoded with github.com/buildbarn/go-xdr's generated
// types, independently of the gateway's own codec, so a symmetric encoding bug cannot hide. It
// also starts a gateway over a storage/posix brick in a directory (StartPosix) for tests of
// other packages (NLM, NSM, billyfs, integration).
package nfstest
