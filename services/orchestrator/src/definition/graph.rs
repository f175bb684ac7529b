//! Checks that a pipeline's tasks form a DAG, and finds each task's upstream tasks.

use std::collections::{BTreeSet, HashMap, VecDeque};

use super::error::{Collector, closest, key_path};

/// One task as the graph sees it: its id and its dependencies, each with its path.
pub(crate) struct Node {
    pub(crate) id: String,
    pub(crate) path: String,
    pub(crate) depends_on: Vec<(String, String)>,
}

/// Reports duplicate ids, unknown or self dependencies and cycles (naming their tasks);
/// returns every task's upstream tasks (direct and transitive) when the tasks form a DAG.
pub(crate) fn upstream_tasks(out: &mut Collector, nodes: &[Node]) -> Option<Vec<BTreeSet<String>>> {
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut sound = true;
    for (i, node) in nodes.iter().enumerate() {
        if let Some(&first) = index.get(node.id.as_str()) {
            out.report(
                &key_path(&node.path, "id"),
                format!(
                    "duplicate task id '{}': {} has it too",
                    node.id, nodes[first].path
                ),
            );
            sound = false;
        } else {
            index.insert(&node.id, i);
        }
    }
    let ids: Vec<&str> = index.keys().copied().collect();
    let mut upstream_edges: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
    for (i, node) in nodes.iter().enumerate() {
        for (path, dep) in &node.depends_on {
            match index.get(dep.as_str()) {
                Some(&d) if d == i => {
                    out.report(path, format!("task '{}' depends on itself", node.id));
                    sound = false;
                }
                Some(&d) => upstream_edges[i].push(d),
                None => {
                    let hint = closest(dep, &ids)
                        .map(|best| format!(" (did you mean '{best}'?)"))
                        .unwrap_or_default();
                    out.report(path, format!("unknown task '{dep}'{hint}"));
                    sound = false;
                }
            }
        }
    }
    let order = match topological(&upstream_edges) {
        Ok(order) => order,
        Err(remaining) => {
            report_cycles(out, nodes, &upstream_edges, &remaining);
            return None;
        }
    };
    if !sound {
        return None;
    }
    let mut upstream: Vec<BTreeSet<String>> = vec![BTreeSet::new(); nodes.len()];
    for &i in &order {
        let mut all = BTreeSet::new();
        for &d in &upstream_edges[i] {
            all.insert(nodes[d].id.clone());
            all.extend(upstream[d].iter().cloned());
        }
        upstream[i] = all;
    }
    Some(upstream)
}

/// Kahn's algorithm over upstream edges; on a cycle, the tasks left unordered.
fn topological(upstream_edges: &[Vec<usize>]) -> Result<Vec<usize>, BTreeSet<usize>> {
    let mut waiting: Vec<usize> = upstream_edges.iter().map(Vec::len).collect();
    let mut downstream: Vec<Vec<usize>> = vec![Vec::new(); upstream_edges.len()];
    for (i, deps) in upstream_edges.iter().enumerate() {
        for &d in deps {
            downstream[d].push(i);
        }
    }
    let mut ready: VecDeque<usize> = (0..waiting.len()).filter(|&i| waiting[i] == 0).collect();
    let mut order = Vec::with_capacity(waiting.len());
    while let Some(i) = ready.pop_front() {
        order.push(i);
        for &next in &downstream[i] {
            waiting[next] -= 1;
            if waiting[next] == 0 {
                ready.push_back(next);
            }
        }
    }
    if order.len() == waiting.len() {
        Ok(order)
    } else {
        Err((0..waiting.len()).filter(|&i| waiting[i] > 0).collect())
    }
}

/// Names each distinct cycle once: `a -> b -> a`, reported at the first task of the cycle.
fn report_cycles(
    out: &mut Collector,
    nodes: &[Node],
    upstream_edges: &[Vec<usize>],
    remaining: &BTreeSet<usize>,
) {
    let mut named: BTreeSet<usize> = BTreeSet::new();
    for &start in remaining {
        // Every unordered task waits on another unordered task, so walking upstream ends in a cycle.
        let mut walk = vec![start];
        let mut at = start;
        let cycle_start = loop {
            let Some(&next) = upstream_edges[at].iter().find(|d| remaining.contains(d)) else {
                break None;
            };
            if let Some(position) = walk.iter().position(|&seen| seen == next) {
                break Some(position);
            }
            walk.push(next);
            at = next;
        };
        let Some(position) = cycle_start else { continue };
        // Walking upstream lists the cycle against the arrows; print it in dependency order.
        let mut cycle: Vec<usize> = walk[position..].iter().rev().copied().collect();
        if cycle.iter().any(|i| named.contains(i)) {
            continue;
        }
        named.extend(cycle.iter().copied());
        let first = cycle
            .iter()
            .enumerate()
            .min_by_key(|(_, i)| **i)
            .map_or(0, |(p, _)| p);
        cycle.rotate_left(first);
        let mut names: Vec<&str> = cycle.iter().map(|&i| nodes[i].id.as_str()).collect();
        names.push(names[0]);
        out.report(
            &key_path(&nodes[cycle[0]].path, "depends_on"),
            format!("the dependencies form a cycle: {}", names.join(" -> ")),
        );
    }
}
