//! Checks that span apps: names unique across apps, dependencies known, no dependency cycles.

use std::collections::{HashMap, HashSet};

use crate::config::parse::decoder::{Decoder, did_you_mean};
use crate::config::yaml::Pos;

/// What was learned about one app for the checks that span apps.
pub(super) struct AppRefs {
    /// The name, position and path, when the name is valid.
    pub(super) name: Option<(String, Pos, String)>,
    /// The name as written, when it is a string but not a valid name.
    pub(super) invalid_name: Option<String>,
    /// Dependency name, its position and path.
    pub(super) depends_on: Vec<(String, Pos, String)>,
}

impl Decoder {
    /// Names unique across apps, dependencies known, and no dependency cycles.
    pub(super) fn dependencies(&mut self, apps: &[AppRefs]) {
        let mut index: HashMap<&str, usize> = HashMap::new();
        for (i, app) in apps.iter().enumerate() {
            let Some((name, pos, path)) = &app.name else {
                continue;
            };
            match index.get(name.as_str()) {
                Some(&first) => {
                    let line = apps[first].name.as_ref().map_or(0, |n| n.1.line);
                    self.error(
                        *pos,
                        path,
                        format!("duplicate app name {name:?} (first at line {line})"),
                    );
                }
                None => {
                    index.insert(name, i);
                }
            }
        }
        let mut edges: Vec<Vec<(usize, usize)>> = vec![Vec::new(); apps.len()];
        for (i, app) in apps.iter().enumerate() {
            for (j, (target, pos, path)) in app.depends_on.iter().enumerate() {
                match index.get(target.as_str()) {
                    Some(&t) => edges[i].push((t, j)),
                    None if apps.iter().any(|a| a.invalid_name.as_ref() == Some(target)) => {
                        // It names an app whose name is invalid; that error says what to fix.
                    }
                    None => {
                        let hint = did_you_mean(target, index.keys().copied());
                        self.error(*pos, path, format!("unknown app {target:?}{hint}"));
                    }
                }
            }
        }
        // Only first occurrences of a name take part; a duplicate was reported above.
        for cycle in cycles(&edges, |i| {
            index.get(apps[i].name.as_ref().map_or("", |n| n.0.as_str())) == Some(&i)
        }) {
            let names: Vec<&str> = cycle
                .iter()
                .map(|(i, _)| apps[*i].name.as_ref().map_or("", |n| n.0.as_str()))
                .collect();
            let (first, dep) = cycle[0];
            let (_, pos, path) = &apps[first].depends_on[dep];
            self.error(
                *pos,
                path,
                format!("dependency cycle: {} -> {}", names.join(" -> "), names[0]),
            );
        }
    }
}

/// One cycle per strongly connected component with more than one app (self-dependencies are
/// refused earlier), as (app, index of the `depends_on` entry leading to the next app), starting
/// at the lowest app index so the report is stable.
fn cycles(
    edges: &[Vec<(usize, usize)>],
    included: impl Fn(usize) -> bool,
) -> Vec<Vec<(usize, usize)>> {
    let components = strongly_connected(edges, &included);
    let mut out = Vec::new();
    for component in components.into_iter().filter(|c| c.len() > 1) {
        let members: HashSet<usize> = component.iter().copied().collect();
        let start = *component.iter().min().unwrap_or(&0);
        // Breadth-first search inside the component for the shortest way back to `start`.
        let mut came_from: HashMap<usize, (usize, usize)> = HashMap::new();
        let mut queue = std::collections::VecDeque::from([start]);
        'search: while let Some(node) = queue.pop_front() {
            for &(next, dep) in &edges[node] {
                if !members.contains(&next) {
                    continue;
                }
                if next == start {
                    let mut cycle = vec![(node, dep)];
                    let mut at = node;
                    while at != start {
                        let (from, via) = came_from[&at];
                        cycle.push((from, via));
                        at = from;
                    }
                    cycle.reverse();
                    out.push(cycle);
                    break 'search;
                }
                if let std::collections::hash_map::Entry::Vacant(e) = came_from.entry(next) {
                    e.insert((node, dep));
                    queue.push_back(next);
                }
            }
        }
    }
    out.sort();
    out
}

/// Tarjan's algorithm, iterative so a long dependency chain cannot overflow the stack.
fn strongly_connected(
    edges: &[Vec<(usize, usize)>],
    included: &impl Fn(usize) -> bool,
) -> Vec<Vec<usize>> {
    let n = edges.len();
    let mut order = vec![usize::MAX; n];
    let mut low = vec![0; n];
    let mut on_stack = vec![false; n];
    let mut stack = Vec::new();
    let mut next = 0;
    let mut components = Vec::new();
    for root in (0..n).filter(|&i| included(i)) {
        if order[root] != usize::MAX {
            continue;
        }
        let mut work = vec![(root, 0usize)];
        order[root] = next;
        low[root] = next;
        next += 1;
        stack.push(root);
        on_stack[root] = true;
        while let Some(&mut (v, ref mut edge)) = work.last_mut() {
            if let Some(&(w, _)) = edges[v].get(*edge) {
                *edge += 1;
                if !included(w) {
                    continue;
                }
                if order[w] == usize::MAX {
                    order[w] = next;
                    low[w] = next;
                    next += 1;
                    stack.push(w);
                    on_stack[w] = true;
                    work.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(order[w]);
                }
            } else {
                work.pop();
                if let Some(&(parent, _)) = work.last() {
                    low[parent] = low[parent].min(low[v]);
                }
                if low[v] == order[v] {
                    let mut component = Vec::new();
                    while let Some(w) = stack.pop() {
                        on_stack[w] = false;
                        component.push(w);
                        if w == v {
                            break;
                        }
                    }
                    components.push(component);
                }
            }
        }
    }
    components
}
