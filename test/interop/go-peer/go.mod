// Pins the Go MetalBond reference peer used by tsbond's interop tests.
// No Go code lives here: build-peers.sh runs
//   go install github.com/ironcore-dev/metalbond/cmd
// inside this module, so the version and every checksum come from go.mod/go.sum.
// (The proxy reachable here refuses @v/list for metalbond and sum.golang.org has
// no entry for v0.5.0, so `go install ...@v0.5.0` cannot work; see build-peers.sh.)
module tsbond.test/interop/go-peer

go 1.25.0

require github.com/ironcore-dev/metalbond v0.5.0
