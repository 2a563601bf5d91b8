// The official `openai` SDK's Responses API against the gateway. Runs the cases in CASES in
// order (each consumes one scripted upstream reply) and prints one JSON object on stdout,
// keyed by case name. An SDK error is part of a case's result (`error`), not a failure of the
// script: the Rust test decides which cases must fail. Exit 1 only for a broken setup.
//
// Environment:
//   BASE_URL  the gateway (`http://127.0.0.1:PORT`; `/v1` is appended unless present)
//   API_KEY   the client's own key (default `sk-client-secret-never-forwarded`)
//   MODEL     the model to ask for (default `gpt-5-codex`)
//   CASES     JSON array of {name, mode, tools?, max_output_tokens?}
//             mode:  `helper`  client.responses.stream(...) + finalResponse()
//                    `iterate` for await over client.responses.create({stream: true})
//                    `whole`   client.responses.create({stream: false})
//             tools: `none` (default), `functions` (read_file, run_shell), `custom`
//                    (freeform apply_patch with a Lark grammar, plus read_file)
//
// Every request carries what Codex sends and the gateway must not forward: Codex-style
// identifying headers and the body fields prompt_cache_key, client_metadata, metadata, user,
// safety_identifier, store, include.
import OpenAI from "openai";

const base = (process.env.BASE_URL ?? "").replace(/\/+$/, "");
if (!base) {
  console.error("BASE_URL is not set");
  process.exit(2);
}
const baseURL = base.endsWith("/v1") ? base : `${base}/v1`;
const client = new OpenAI({
  baseURL,
  apiKey: process.env.API_KEY ?? "sk-client-secret-never-forwarded",
  maxRetries: 0,
  timeout: 60_000,
  defaultHeaders: {
    originator: "codex_cli_rs",
    "session-id": "client-session-7f3a",
    "x-client-request-id": "client-req-9c1d",
    "x-codex-turn-metadata": JSON.stringify({ installation_id: "inst-5e6f", turn_id: "turn-1" }),
    "x-codex-window-id": "client-session-7f3a:0",
    "x-codex-beta-features": "remote_compaction_v2",
  },
});
const model = process.env.MODEL ?? "gpt-5-codex";
let cases;
try {
  cases = JSON.parse(process.env.CASES ?? "[]");
} catch (e) {
  console.error(`CASES is not JSON: ${e}`);
  process.exit(2);
}

const functionTools = [
  {
    type: "function",
    name: "read_file",
    description: "Read a file",
    parameters: {
      type: "object",
      properties: { path: { type: "string" }, range: { type: "array", items: { type: "integer" } } },
      required: ["path"],
    },
    strict: false,
  },
  {
    type: "function",
    name: "run_shell",
    description: "Run a shell command",
    parameters: {
      type: "object",
      properties: { command: { type: "string" }, timeout_ms: { type: "integer" } },
      required: ["command"],
    },
    strict: false,
  },
];
const customTools = [
  {
    type: "custom",
    name: "apply_patch",
    description: "Apply a patch in the apply_patch format.",
    format: {
      type: "grammar",
      syntax: "lark",
      definition: 'start: "*** Begin Patch" /(.|\\n)*/ "*** End Patch"',
    },
  },
  functionTools[0],
];

function params(c) {
  const p = {
    model,
    instructions: "You are a terse coding agent.",
    input: [
      { type: "message", role: "developer", content: [{ type: "input_text", text: "Prefer tools." }] },
      { type: "message", role: "user", content: [{ type: "input_text", text: "Say hello: héllo, 你好." }] },
    ],
    store: false,
    include: ["reasoning.encrypted_content"],
    reasoning: { effort: "medium", summary: "auto" },
    text: { verbosity: "low" },
    prompt_cache_key: "client-session-7f3a",
    client_metadata: { session_id: "client-session-7f3a", "x-codex-installation-id": "inst-5e6f" },
    metadata: { ticket: "client-meta-value" },
    user: "client-user-42",
    safety_identifier: "client-safety-id",
  };
  if (c.tools === "functions") {
    p.tools = functionTools;
    p.tool_choice = "auto";
    p.parallel_tool_calls = true;
  } else if (c.tools === "custom") {
    p.tools = customTools;
    p.tool_choice = "auto";
    p.parallel_tool_calls = false;
  }
  if (c.max_output_tokens) p.max_output_tokens = c.max_output_tokens;
  return p;
}

function describeError(err) {
  return {
    name: err?.constructor?.name ?? "Error",
    status: err?.status ?? null,
    message: String(err?.message ?? err),
    error: err?.error ?? null,
  };
}

// What a consumer of the events sees: types in order, sequence numbers, text and argument
// deltas accumulated per item.
function newTrace() {
  return { types: [], seq: [], text: "", reasoning: "", args: {}, custom_input: {}, failed_event: null };
}

function noteEvent(t, ev) {
  t.types.push(ev.type);
  t.seq.push(ev.sequence_number ?? null);
  switch (ev.type) {
    case "response.output_text.delta":
      t.text += ev.delta;
      break;
    case "response.reasoning_summary_text.delta":
    case "response.reasoning_text.delta":
      t.reasoning += ev.delta;
      break;
    case "response.function_call_arguments.delta":
      t.args[ev.item_id] = (t.args[ev.item_id] ?? "") + ev.delta;
      break;
    case "response.custom_tool_call_input.delta":
      t.custom_input[ev.item_id] = (t.custom_input[ev.item_id] ?? "") + ev.delta;
      break;
    case "response.failed":
      t.failed_event = ev.response?.error ?? null;
      break;
    default:
      break;
  }
}

async function runHelper(c) {
  const t = newTrace();
  const stream = client.responses.stream(params(c));
  stream.on("event", (ev) => noteEvent(t, ev));
  try {
    const final = await stream.finalResponse();
    return { ...t, final: plain(final) };
  } catch (err) {
    return { ...t, error: describeError(err) };
  }
}

async function runIterate(c) {
  const t = newTrace();
  let final = null;
  try {
    const stream = await client.responses.create({ ...params(c), stream: true });
    for await (const ev of stream) {
      noteEvent(t, ev);
      if (["response.completed", "response.incomplete", "response.failed"].includes(ev.type)) {
        final = ev.response;
      }
    }
    return { ...t, final };
  } catch (err) {
    return { ...t, final, error: describeError(err) };
  }
}

async function runWhole(c) {
  try {
    const r = await client.responses.create({ ...params(c), stream: false });
    return { final: plain(r) };
  } catch (err) {
    return { error: describeError(err) };
  }
}

// The SDK adds non-enumerable helpers (output_text getters, parsed fields); keep the data.
function plain(v) {
  return JSON.parse(JSON.stringify(v));
}

const out = {};
for (const c of cases) {
  if (c.mode === "helper") out[c.name] = await runHelper(c);
  else if (c.mode === "iterate") out[c.name] = await runIterate(c);
  else if (c.mode === "whole") out[c.name] = await runWhole(c);
  else {
    console.error(`unknown mode ${c.mode}`);
    process.exit(2);
  }
  out[c.name].mode = c.mode;
}
console.log(JSON.stringify(out));
