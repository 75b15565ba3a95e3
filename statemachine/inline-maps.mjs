// Writes the inline twins of the host Distributed Maps into deployment.asl.json.
//
// A batch of a few hosts runs in an inline Map (no Map Run to start, no child executions), a
// larger one in a Distributed Map; the execution input decides which per batch
// (`boreas_core::execution`). Both must run the same states, so the inline Maps are derived
// here from the distributed ones instead of being written twice: edit the distributed Map, then
// run `npm run inline-maps --prefix statemachine`. `--check` (run by the test suite) fails when
// the definition's inline Maps are not what this derives.
//
// The twin reads its hosts from the batch itself (`hosts`) instead of the batch's object
// (`hosts_key`), drops what only a Distributed Map has, and prefixes its states with `Inline`:
// state names are unique across the whole definition.

import { readFileSync, writeFileSync } from "node:fs";

const FILE = new URL("./deployment.asl.json", import.meta.url);
const TWINS = { DeployHosts: "DeployHostsInline", RollbackHosts: "RollbackHostsInline" };
const DISTRIBUTED_ONLY = new Set(["ItemReader", "Label", "ToleratedFailureCount", "ToleratedFailurePercentage", "ItemBatcher", "ResultWriter"]);
const PREFIX = "Inline";

function renamed(value, names) {
  if (Array.isArray(value)) return value.map((v) => renamed(v, names));
  if (value === null || typeof value !== "object") return value;
  const out = {};
  for (const [k, v] of Object.entries(value)) {
    if ((k === "Next" || k === "Default" || k === "StartAt") && typeof v === "string" && names.has(v)) {
      out[k] = PREFIX + v;
    } else if (k === "States") {
      out[k] = Object.fromEntries(Object.entries(v).map(([name, s]) => [PREFIX + name, renamed(s, names)]));
    } else {
      out[k] = renamed(v, names);
    }
  }
  return out;
}

function twin(name, map) {
  const names = new Set(Object.keys(map.ItemProcessor.States));
  const out = {};
  for (const [k, v] of Object.entries(map)) {
    if (k === "ItemReader") {
      out.Comment = `Generated from ${name} by statemachine/inline-maps.mjs: the same hosts' states, inline, for a batch that lists its hosts.`;
      out.ItemsPath = "$.cursor.batch.hosts";
    } else if (k === "ItemProcessor") {
      out.ItemProcessor = renamed({ ...v, ProcessorConfig: { Mode: "INLINE" } }, names);
    } else if (!DISTRIBUTED_ONLY.has(k) && k !== "Comment") {
      out[k] = v;
    }
  }
  return out;
}

function derive(definition) {
  const apps = definition.States.Stages.ItemProcessor.States.Apps.ItemProcessor.States;
  const states = {};
  for (const [name, state] of Object.entries(apps)) {
    if (name in TWINS) {
      states[name] = state;
      states[TWINS[name]] = twin(name, state);
    } else if (!Object.values(TWINS).includes(name)) {
      states[name] = state;
    }
  }
  definition.States.Stages.ItemProcessor.States.Apps.ItemProcessor.States = states;
  return JSON.stringify(definition, null, 2) + "\n";
}

const text = readFileSync(FILE, "utf8");
const derived = derive(JSON.parse(text));
if (process.argv.includes("--check")) {
  if (derived !== text) {
    console.error("statemachine/deployment.asl.json: its inline host Maps differ from the distributed ones they derive from; run `npm run inline-maps --prefix statemachine`");
    process.exit(1);
  }
} else if (derived !== text) {
  writeFileSync(FILE, derived);
  console.log("statemachine/deployment.asl.json: inline host Maps written");
}
