// Package reconcile plans and executes the changes that make a node's
// containers match its desired state. The planner is pure: desired state and
// observed objects in, an ordered plan with a human reason per action out.
package reconcile
