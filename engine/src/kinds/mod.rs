//! What is particular to each resource kind, one module per kind: the rules its changes
//! follow. The planner refuses at plan time what a kind's rules forbid, so that apply never
//! meets a refusal half-way through; providers apply the same rules defensively, from here.

pub mod eks_cluster;
