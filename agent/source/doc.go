// Package source follows the node's Git branch: a cheap remote check (ls-remote),
// fetch of a new head, signature verification, and checkout into a
// revision-addressed directory with an atomic switch, keeping the last good one.
//
// It is the only package of the agent that imports go-git.
//
// # Calls
//
// The agent loop (DESIGN.md §5 steps 2-3) calls, in order:
//
//	Head(ctx)           ls-remote: the branch head, no fetch, nothing written
//	Fetch(ctx, commit)  a new head only; a no-op when the commit is already here
//	Verify(commit)      when a keyring is configured
//	Checkout(commit)    the tree in its own directory, the atomic switch, and
//	                    the pruning of all but the new current and previous
//
// Current reads the switched-to checkout back from disk, so a node that boots
// without network knows what it last checked out.
//
// # On disk
//
// Everything this package writes lives under Config.Dir:
//
//	repo/                bare repository: the last fetched head, depth 1
//	checkouts/<commit>/  the whole tree of a commit; exists only when complete
//	current -> checkouts/<commit>    relative symlinks, switched by rename
//	previous -> checkouts/<commit>   the checkout current replaced
//	tmp/                 fetches, checkouts and links being written; emptied by New
//
// A checkout is written in tmp/, with every file and directory synced, then
// renamed into checkouts/: a directory there is complete by construction and
// is reused as is. Links are made in tmp/ and renamed over the old ones.
// Pruning renames a checkout into tmp/ before removing it, so a half-removed
// checkout never looks complete.
//
// The checkout holds the whole tree, not only the source.path subtree: the
// caller joins the path (as agent.PlanCheckout does), and relative references
// and symlinks are judged against the whole repository.
//
// # Deadlines and abandoned calls
//
// Every network call (Head, Fetch) runs under its own deadline, Config.Timeout,
// in a goroutine of its own. The caller waits for the goroutine or the
// deadline, whichever comes first. go-git over HTTP honours the context and
// returns at the deadline; go-git over SSH does not (its dial and handshake
// ignore the context, so a host that accepts and never answers holds the call
// for as long as the TCP connection lives). At the deadline such a call is
// abandoned: Head and Fetch return an error matching both ErrUnreachable and
// context.DeadlineExceeded, and the goroutine runs on until go-git returns,
// then cleans up after itself and exits.
//
// Abandoned calls cannot corrupt state because they share none:
//
//   - ls-remote keeps the advertised references in memory and writes nothing.
//   - Every fetch clones the head, depth 1, into a fresh directory of its own
//     under tmp/. Only the caller, after the call returned in time, moves it
//     into place as repo/ (under repoMu, a local rename, never held across
//     network I/O). An abandoned fetch never touches repo/: when it finally
//     returns, it removes its own directory.
//   - There is no lock between network calls, so no call ever waits for an
//     abandoned one.
//
// The price of the fresh clone is that a new head costs a depth-1 transfer of
// the whole tree rather than an incremental fetch; a manifests repository is
// small, and force-pushes and rewritten histories need nothing special.
//
// Abandoned goroutines are counted. While maxHung of them are still running,
// Head and Fetch fail at once with ErrUnreachable instead of starting another,
// so a remote that hangs every call costs a bounded number of goroutines and
// connections.
//
// # Transports
//
//   - https://, http://: basic auth from Config.Username and the password in
//     Config.PasswordFile, read and trimmed at every call (rotation needs no
//     restart). A password file without a username sends "x-access-token", the
//     username token-based hosts expect.
//   - ssh://user@host/path and scp-like user@host:path: public key from
//     Config.SSHKeyFile (required; no agent, no agent forwarding, no
//     passphrase), the user from the URL or "git". Host keys are checked
//     against Config.KnownHostsFile; when it is empty, go-git's default lookup
//     applies: the files in $SSH_KNOWN_HOSTS, else ~/.ssh/known_hosts and
//     /etc/ssh/ssh_known_hosts. An unknown host is always refused.
//   - file://: a repository on a local or mounted file system, read in process
//     with go-git (no git binary needed). Head reads the branch reference from
//     disk; Fetch copies the head's commit, trees and blobs into repo/.
//     WatchPaths lists the files whose change means a new head.
//
// URLs carrying a password are refused; passwords read from files are removed
// from every error message this package returns.
package source
