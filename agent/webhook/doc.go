// Package webhook tells people what happens on a node: it sends the agent's
// events (a revision applied, a stack failed, rolled back or refused, a
// revision refused, pending too long, Git unreachable too long) to the
// webhooks of the node configuration's notify list, as JSON, as a Slack
// message or as an ntfy notification.
//
// It never holds the agent up. Notify only queues: each webhook has its own
// bounded queue and its own sender, so a receiver that is down, slow or
// black-holed delays nothing but its own messages; a full queue drops its
// oldest event and counts it (the next message says how many were lost).
// A message is sent with retries and capped backoff (go-retryablehttp);
// one that still fails goes back to the head of the queue and is tried
// again later, with what queued meanwhile, so delivery is at least once. A
// receiver that rejects a message (4xx other than 408 and 429) will never
// take it: that message is dropped and counted.
//
// Each webhook has a rate limit (MaxPerMinute): while it allows, every
// event is a message of its own; events that arrive while it does not (or
// while the receiver is down) are coalesced into the next message, so a
// flapping node cannot flood a channel.
//
// Pending and Offline are conditions, not moments: the agent reports them
// when they begin, change and end (Cleared), and a webhook is told only of
// one that lasts its PendingAfter or OfflineAfter, once. A webhook told
// that Git was unreachable is told when it is reachable again (Online).
//
// Credentials never leave in the clear: the URL (which may carry them when
// it came from a url_file) appears in logs and errors only as its scheme
// and host, and errors in payloads have URL passwords redacted.
//
// The JSON payload is Payload: versioned, and stable within a version.
package webhook
