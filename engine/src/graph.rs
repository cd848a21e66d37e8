//! The resource dependency graph: a petgraph DAG over resource addresses, with cycles
//! reported as the path that closes them, topological order, and DOT output.
//!
//! The graph borrows the addresses of the resources it is built from (a node is 8 bytes, not
//! the 96 of an address): at 100,000 resources, copies in the nodes, the index and the
//! topological order were 30 MB held while a plan is made.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

use foldhash::{HashMap, HashSet};
use std::fmt::Write as _;

use eksmgr_state::ResourceAddress;
use petgraph::algo::toposort;
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;

/// Errors building the graph.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GraphError {
    /// The dependencies form a cycle; the path lists it, first element repeated at the end.
    #[error("dependency cycle: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join(" -> "))]
    Cycle(Vec<ResourceAddress>),
    /// A resource depends on one that is neither desired nor in state.
    #[error("{from} depends on {to}, which is not defined")]
    Dangling {
        /// The dependent.
        from: ResourceAddress,
        /// The missing dependency.
        to: ResourceAddress,
    },
}

/// A DAG of addresses; an edge `a -> b` means `b` depends on `a` (a comes first).
#[derive(Debug, Default, Clone)]
pub struct Graph<'a> {
    graph: DiGraph<&'a ResourceAddress, ()>,
    /// Looked up for every edge: hashed, not searched (outputs sort the addresses).
    index: HashMap<&'a ResourceAddress, NodeIndex>,
}

impl<'a> Graph<'a> {
    /// Builds the graph from (address, dependencies) pairs and checks it is acyclic.
    pub fn build<I>(nodes: I) -> Result<Graph<'a>, GraphError>
    where
        I: IntoIterator<Item = (&'a ResourceAddress, &'a [ResourceAddress])>,
    {
        Graph::build_with(nodes.into_iter().map(|(addr, deps)| (addr, deps.iter())))
    }

    /// [`Graph::build`] with each resource's dependencies given as any iterator of addresses
    /// (one may repeat): nothing needs to be copied to build the graph. Nodes are numbered
    /// from 0 in the order their addresses first appear in `nodes` (the numbers that
    /// [`Graph::topological_nodes`] gives).
    pub fn build_with<I, D>(nodes: I) -> Result<Graph<'a>, GraphError>
    where
        I: IntoIterator<Item = (&'a ResourceAddress, D)>,
        D: IntoIterator<Item = &'a ResourceAddress>,
    {
        let mut g = Graph::default();
        let nodes: Vec<_> = nodes.into_iter().collect();
        for &(addr, _) in &nodes {
            g.add(addr);
        }
        // A dependency named twice gets one edge. `update_edge` would look through a node's
        // edges for each one, quadratic for a resource with thousands of dependencies (a
        // registry repository); one set over all edges is a random access into megabytes per
        // edge. So the edges into a node are told apart by a set of that node's own, emptied
        // between nodes (and a node listed twice adds to the edges it has).
        let mut done = vec![false; g.graph.node_count()];
        let mut from_here = Sources::default();
        for (addr, deps) in nodes {
            let to = g.index[addr];
            from_here.reset();
            if let Some(done) = done.get_mut(to.index()) {
                if *done {
                    for from in g.graph.neighbors_directed(to, petgraph::Incoming) {
                        from_here.insert(from);
                    }
                }
                *done = true;
            }
            for dep in deps {
                let Some(&from) = g.index.get(dep) else {
                    return Err(GraphError::Dangling {
                        from: addr.clone(),
                        to: dep.clone(),
                    });
                };
                if from_here.insert(from) {
                    g.graph.add_edge(from, to, ());
                }
            }
        }
        g.check_acyclic()?;
        Ok(g)
    }

    /// [`Graph::build_with`] for a caller that has numbered the resources itself: node `i` is
    /// `addresses[i]` and `deps` yields, for each node in turn, the numbers of its
    /// dependencies (one may repeat). No address is hashed (the caller has looked each one up
    /// already), so the graph keeps no index by address: [`Graph::dependencies`] and
    /// [`Graph::dependents`] search its nodes, and [`Graph::dependencies_of`] is the way to
    /// ask it.
    pub fn build_numbered<I, D>(
        addresses: &[&'a ResourceAddress],
        deps: I,
    ) -> Result<Graph<'a>, GraphError>
    where
        I: IntoIterator<Item = D>,
        D: IntoIterator<Item = usize>,
    {
        let mut graph: DiGraph<&'a ResourceAddress, ()> =
            DiGraph::with_capacity(addresses.len(), addresses.len());
        for &addr in addresses {
            graph.add_node(addr);
        }
        let n = graph.node_count();
        let mut from_here = Sources::default();
        for (to, deps) in deps.into_iter().enumerate().take(n) {
            from_here.reset();
            let to = NodeIndex::new(to);
            for from in deps {
                if from >= n {
                    continue;
                }
                let from = NodeIndex::new(from);
                if from_here.insert(from) {
                    graph.add_edge(from, to, ());
                }
            }
        }
        let g = Graph {
            graph,
            index: HashMap::default(),
        };
        g.check_acyclic()?;
        Ok(g)
    }

    /// The numbers of node `i`'s direct dependencies, in no particular order.
    pub fn dependencies_of(&self, i: usize) -> impl Iterator<Item = usize> + '_ {
        self.graph
            .neighbors_directed(NodeIndex::new(i), petgraph::Incoming)
            .map(|m| m.index())
    }

    /// The graph of desired resources (hard and ordering-only dependencies).
    pub fn of_desired(
        desired: &'a [crate::model::DesiredResource],
    ) -> Result<Graph<'a>, GraphError> {
        Graph::build_with(
            desired
                .iter()
                .map(|d| (&d.address, d.depends_on.iter().chain(&d.order_after))),
        )
    }

    fn add(&mut self, addr: &'a ResourceAddress) -> NodeIndex {
        if let Some(&i) = self.index.get(addr) {
            return i;
        }
        let i = self.graph.add_node(addr);
        self.index.insert(addr, i);
        i
    }

    fn check_acyclic(&self) -> Result<(), GraphError> {
        if toposort(&self.graph, None).is_ok() {
            return Ok(());
        }
        // Find the cycle with a DFS that tracks the current path.
        let mut state: BTreeMap<NodeIndex, u8> = BTreeMap::new();
        let mut path = Vec::new();
        for start in self.graph.node_indices() {
            if let Some(cycle) = self.dfs_cycle(start, &mut state, &mut path) {
                return Err(GraphError::Cycle(cycle));
            }
        }
        Err(GraphError::Cycle(Vec::new()))
    }

    fn dfs_cycle(
        &self,
        n: NodeIndex,
        state: &mut BTreeMap<NodeIndex, u8>,
        path: &mut Vec<NodeIndex>,
    ) -> Option<Vec<ResourceAddress>> {
        match state.get(&n) {
            Some(2) => return None,
            Some(1) => {
                let pos = path.iter().position(|&p| p == n).unwrap_or(0);
                let mut cycle: Vec<ResourceAddress> =
                    path[pos..].iter().map(|&i| self.graph[i].clone()).collect();
                cycle.push(self.graph[n].clone());
                return Some(cycle);
            }
            _ => {}
        }
        state.insert(n, 1);
        path.push(n);
        let mut next: Vec<NodeIndex> = self.graph.neighbors(n).collect();
        next.sort_by(|a, b| self.graph[*a].cmp(self.graph[*b]));
        for m in next {
            if let Some(c) = self.dfs_cycle(m, state, path) {
                return Some(c);
            }
        }
        path.pop();
        state.insert(n, 2);
        None
    }

    /// Addresses in dependency order (dependencies first), ties broken by address.
    pub fn topological(&self) -> Vec<&'a ResourceAddress> {
        self.topological_nodes()
            .into_iter()
            .map(|i| self.graph[NodeIndex::new(i)])
            .collect()
    }

    /// The numbers of the nodes (see [`Graph::build_with`]) in the order of
    /// [`Graph::topological`]: a caller that numbered its resources the same way finds them
    /// by index, not by address.
    pub fn topological_nodes(&self) -> Vec<usize> {
        let n = self.graph.node_count();
        let mut indegree: Vec<usize> = self
            .graph
            .node_indices()
            .map(|m| self.graph.neighbors_directed(m, petgraph::Incoming).count())
            .collect();
        // Ready nodes are taken in address order (addresses are unique): by their rank among
        // the addresses, found by one sort, so that keeping them in order compares numbers.
        let mut by_address: Vec<NodeIndex> = self.graph.node_indices().collect();
        by_address.sort_unstable_by(|a, b| self.graph[*a].cmp(self.graph[*b]));
        let mut rank = vec![0; n];
        for (r, m) in by_address.iter().enumerate() {
            if let Some(slot) = rank.get_mut(m.index()) {
                *slot = r;
            }
        }
        let mut ready: BinaryHeap<Reverse<usize>> = by_address
            .iter()
            .enumerate()
            .filter(|(_, m)| indegree.get(m.index()) == Some(&0))
            .map(|(r, _)| Reverse(r))
            .collect();
        let mut out = Vec::with_capacity(n);
        while let Some(Reverse(r)) = ready.pop() {
            let Some(&m) = by_address.get(r) else {
                continue;
            };
            out.push(m.index());
            for next in self.graph.neighbors(m) {
                if let Some(d) = indegree.get_mut(next.index()) {
                    *d -= 1;
                    if *d == 0 {
                        ready.push(Reverse(rank.get(next.index()).copied().unwrap_or(0)));
                    }
                }
            }
        }
        out
    }

    /// The node of an address: from the index, or searched for in a graph built from
    /// numbers (which has none).
    fn node(&self, addr: &ResourceAddress) -> Option<NodeIndex> {
        match self.index.get(addr) {
            Some(&n) => Some(n),
            None if self.index.is_empty() => {
                self.graph.node_indices().find(|&n| self.graph[n] == addr)
            }
            None => None,
        }
    }

    /// Direct dependencies of an address.
    pub fn dependencies(&self, addr: &ResourceAddress) -> Vec<ResourceAddress> {
        self.node(addr)
            .map(|n| {
                let mut v: Vec<_> = self
                    .graph
                    .neighbors_directed(n, petgraph::Incoming)
                    .map(|m| self.graph[m].clone())
                    .collect();
                v.sort();
                v
            })
            .unwrap_or_default()
    }

    /// Direct dependents of an address.
    pub fn dependents(&self, addr: &ResourceAddress) -> Vec<ResourceAddress> {
        self.node(addr)
            .map(|n| {
                let mut v: Vec<_> = self
                    .graph
                    .neighbors(n)
                    .map(|m| self.graph[m].clone())
                    .collect();
                v.sort();
                v
            })
            .unwrap_or_default()
    }

    /// Number of resources.
    pub fn len(&self) -> usize {
        self.graph.node_count()
    }

    /// Whether the graph is empty.
    pub fn is_empty(&self) -> bool {
        self.graph.node_count() == 0
    }

    /// Graphviz DOT text, stable (sorted) so it can be diffed.
    pub fn to_dot(&self) -> String {
        let mut out =
            String::from("digraph eksmgr {\n  rankdir = \"LR\";\n  node [shape = box];\n");
        let mut nodes: Vec<&ResourceAddress> = self.graph.node_weights().copied().collect();
        nodes.sort();
        for n in nodes {
            let _ = writeln!(out, "  \"{}\";", escape(&n.to_string()));
        }
        let mut edges: Vec<(String, String)> = self
            .graph
            .edge_references()
            .map(|e| {
                (
                    self.graph[e.source()].to_string(),
                    self.graph[e.target()].to_string(),
                )
            })
            .collect();
        edges.sort();
        for (a, b) in edges {
            let _ = writeln!(out, "  \"{}\" -> \"{}\";", escape(&a), escape(&b));
        }
        out.push_str("}\n");
        out
    }

    /// Mermaid flowchart text (for Markdown: a ```mermaid block), stable: nodes sorted and
    /// numbered, edges from a dependency to what depends on it.
    pub fn to_mermaid(&self) -> String {
        let mut out = String::from("flowchart LR\n");
        let mut nodes: Vec<&ResourceAddress> = self.graph.node_weights().copied().collect();
        nodes.sort();
        let ids: HashMap<&ResourceAddress, usize> =
            nodes.iter().enumerate().map(|(i, n)| (*n, i)).collect();
        for (i, n) in nodes.iter().enumerate() {
            let label = n.to_string().replace('"', "#quot;");
            let _ = writeln!(out, "  n{i}[\"{label}\"]");
        }
        let mut edges: Vec<(usize, usize)> = self
            .graph
            .edge_references()
            .filter_map(|e| {
                Some((
                    *ids.get(self.graph[e.source()])?,
                    *ids.get(self.graph[e.target()])?,
                ))
            })
            .collect();
        edges.sort();
        for (a, b) in edges {
            let _ = writeln!(out, "  n{a} --> n{b}");
        }
        out
    }
}

/// The sources of the edges into one node while it is added: searched in a vector while they
/// are few (most resources have a handful of dependencies), hashed beyond that. A set that
/// stayed as large as the largest node would cost its whole size to empty at every node.
#[derive(Default)]
struct Sources {
    few: Vec<NodeIndex>,
    many: Option<HashSet<NodeIndex>>,
}

impl Sources {
    /// Up to this many sources are searched, not hashed.
    const FEW: usize = 32;

    /// Empties it for the next node.
    fn reset(&mut self) {
        self.few.clear();
        self.many = None;
    }

    /// Adds `from`; `false` when it was there.
    fn insert(&mut self, from: NodeIndex) -> bool {
        if let Some(many) = &mut self.many {
            return many.insert(from);
        }
        if self.few.contains(&from) {
            return false;
        }
        if self.few.len() < Self::FEW {
            self.few.push(from);
        } else {
            let mut many: HashSet<NodeIndex> = self.few.drain(..).collect();
            many.insert(from);
            self.many = Some(many);
        }
        true
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(n: &str) -> ResourceAddress {
        ResourceAddress::new("iam_role", n, "111111111111", None)
    }

    #[test]
    fn a_dependency_named_twice_is_one_edge_with_few_or_many_dependencies() {
        let leaves: Vec<ResourceAddress> = (0..40).map(|i| a(&format!("leaf{i}"))).collect();
        let (few, many) = (a("few"), a("many"));
        let mut nodes: Vec<(ResourceAddress, Vec<ResourceAddress>)> =
            leaves.iter().map(|l| (l.clone(), vec![])).collect();
        nodes.push((
            few.clone(),
            vec![leaves[0].clone(), leaves[1].clone(), leaves[0].clone()],
        ));
        let twice: Vec<ResourceAddress> = leaves.iter().chain(&leaves).cloned().collect();
        nodes.push((many.clone(), twice));
        // Listed again: its edges are kept, and repeats of them are not added.
        nodes.push((few.clone(), vec![leaves[1].clone(), leaves[2].clone()]));
        let g = Graph::build(nodes.iter().map(|(k, d)| (k, d.as_slice()))).unwrap();
        assert_eq!(g.dependencies(&few), leaves[..3].to_vec());
        let mut want = leaves.clone();
        want.sort();
        assert_eq!(g.dependencies(&many), want);
        assert_eq!(g.graph.edge_count(), 43);
    }

    #[test]
    fn topological_order_puts_dependencies_first() {
        let (x, y, z) = (a("x"), a("y"), a("z"));
        let nodes = [
            (x.clone(), vec![y.clone()]),
            (y.clone(), vec![z.clone()]),
            (z.clone(), vec![]),
        ];
        let g = Graph::build(nodes.iter().map(|(k, d)| (k, d.as_slice()))).unwrap();
        assert_eq!(g.topological(), vec![&z, &y, &x]);
        assert_eq!(g.dependencies(&x), vec![y.clone()]);
        assert_eq!(g.dependents(&z), vec![y]);
    }

    #[test]
    fn a_numbered_graph_orders_and_answers_as_one_built_from_addresses() {
        // Nodes not in address order, a diamond, ties, a repeated dependency and a number
        // past the end (ignored).
        let names = ["m", "c", "z", "a", "q", "b"];
        let addrs: Vec<ResourceAddress> = names.iter().map(|n| a(n)).collect();
        let deps: Vec<Vec<usize>> = vec![vec![1, 2], vec![3], vec![3, 3], vec![], vec![], vec![9]];
        let by_address: Vec<(ResourceAddress, Vec<ResourceAddress>)> = addrs
            .iter()
            .zip(&deps)
            .map(|(k, d)| {
                (
                    k.clone(),
                    d.iter().filter_map(|&j| addrs.get(j).cloned()).collect(),
                )
            })
            .collect();
        let g1 = Graph::build(by_address.iter().map(|(k, d)| (k, d.as_slice()))).unwrap();
        let refs: Vec<&ResourceAddress> = addrs.iter().collect();
        let g2 = Graph::build_numbered(&refs, deps.iter().map(|d| d.iter().copied())).unwrap();
        assert_eq!(g2.topological_nodes(), g1.topological_nodes());
        assert_eq!(
            g2.topological(),
            vec![
                &addrs[3], &addrs[5], &addrs[1], &addrs[4], &addrs[2], &addrs[0]
            ]
        );
        assert_eq!(g2.graph.edge_count(), 4);
        let mut of_m: Vec<usize> = g2.dependencies_of(0).collect();
        of_m.sort();
        assert_eq!(of_m, vec![1, 2]);
        assert_eq!(g2.dependencies(&addrs[0]), g1.dependencies(&addrs[0]));
        assert_eq!(g2.dependents(&addrs[3]), g1.dependents(&addrs[3]));
        assert_eq!(g2.to_dot(), g1.to_dot());
        // A cycle is found as in a graph built from addresses.
        let cyclic = [vec![1], vec![0]];
        let err = Graph::build_numbered(&refs[..2], cyclic.iter().map(|d| d.iter().copied()));
        assert!(matches!(err, Err(GraphError::Cycle(path)) if path.len() == 3));
    }

    #[test]
    fn cycles_are_reported_as_a_path() {
        let (x, y, z) = (a("x"), a("y"), a("z"));
        let nodes = [
            (x.clone(), vec![y.clone()]),
            (y.clone(), vec![z.clone()]),
            (z.clone(), vec![x.clone()]),
        ];
        let err = Graph::build(nodes.iter().map(|(k, d)| (k, d.as_slice()))).unwrap_err();
        let GraphError::Cycle(path) = &err else {
            panic!("{err}")
        };
        assert_eq!(path.len(), 4);
        assert_eq!(path.first(), path.last());
        assert!(err.to_string().contains(" -> "));
    }

    #[test]
    fn dangling_dependency_is_an_error() {
        let nodes = [(a("x"), vec![a("missing")])];
        assert!(matches!(
            Graph::build(nodes.iter().map(|(k, d)| (k, d.as_slice()))),
            Err(GraphError::Dangling { .. })
        ));
    }

    #[test]
    fn dot_is_stable() {
        let nodes = [(a("x"), vec![a("y")]), (a("y"), vec![])];
        let g = Graph::build(nodes.iter().map(|(k, d)| (k, d.as_slice()))).unwrap();
        let dot = g.to_dot();
        assert!(dot.contains("\"iam_role.y[111111111111]\" -> \"iam_role.x[111111111111]\""));
    }

    #[test]
    fn mermaid_numbers_sorted_nodes_and_points_dependencies_at_dependents() {
        let nodes = [(a("x"), vec![a("y")]), (a("y"), vec![])];
        let g = Graph::build(nodes.iter().map(|(k, d)| (k, d.as_slice()))).unwrap();
        assert_eq!(
            g.to_mermaid(),
            "flowchart LR\n  n0[\"iam_role.x[111111111111]\"]\n  n1[\"iam_role.y[111111111111]\"]\n  n1 --> n0\n"
        );
    }
}
