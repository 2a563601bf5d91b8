// The official `openai` SDK against the gateway: one streamed and one whole chat completion.
// Prints a JSON summary on stdout; exits 1 on any SDK error (the error goes to stderr),
// unless EXPECT_ERROR=1, where the error is the expected outcome and is printed as
// {"error":{…}} on stdout (exit 0; exit 1 if no error happened).
//
// Environment:
//   BASE_URL   the gateway (`http://127.0.0.1:PORT`; `/v1` is appended unless present)
//   API_KEY    the client's own key (default `sk-client-secret-never-forwarded`)
//   MODEL      the model to ask for (default `gpt-4o-mini`)
//   STEPS      comma list of `stream`, `whole` (default `stream,whole`), run in that order
//   TOOLS      `1` to declare a function tool in the request
//   MAX_RETRIES SDK retries (default 0: the scripted upstream plays each reply once)
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
  maxRetries: Number(process.env.MAX_RETRIES ?? 0),
  timeout: 60_000,
});
const model = process.env.MODEL ?? "gpt-4o-mini";
const steps = (process.env.STEPS ?? "stream,whole").split(",").filter(Boolean);

const messages = [
  { role: "system", content: "You are a terse assistant." },
  { role: "user", content: "Say hello, and call a tool if you have one." },
];
const tools =
  process.env.TOOLS === "1"
    ? [
        {
          type: "function",
          function: {
            name: "read_file",
            description: "Read a file",
            parameters: {
              type: "object",
              properties: { path: { type: "string" } },
              required: ["path"],
            },
          },
        },
      ]
    : undefined;

function emptySummary() {
  return {
    id: null,
    model: null,
    objects: [],
    text: "",
    reasoning: {},
    tool_calls: [],
    finish_reason: null,
    usage: null,
    chunks: 0,
  };
}

function noteEnvelope(s, obj) {
  if (s.id === null && typeof obj.id === "string") s.id = obj.id;
  if (s.model === null && typeof obj.model === "string") s.model = obj.model;
  if (typeof obj.object === "string" && !s.objects.includes(obj.object)) s.objects.push(obj.object);
}

async function streamed() {
  const s = emptySummary();
  const calls = new Map();
  const stream = await client.chat.completions.create({
    model,
    messages,
    tools,
    stream: true,
    stream_options: { include_usage: true },
  });
  for await (const chunk of stream) {
    s.chunks += 1;
    noteEnvelope(s, chunk);
    if (chunk.usage) s.usage = chunk.usage;
    for (const choice of chunk.choices ?? []) {
      const d = choice.delta ?? {};
      if (typeof d.content === "string") s.text += d.content;
      for (const field of ["reasoning_content", "reasoning"]) {
        if (typeof d[field] === "string") s.reasoning[field] = (s.reasoning[field] ?? "") + d[field];
      }
      for (const tc of d.tool_calls ?? []) {
        const c = calls.get(tc.index) ?? { index: tc.index, id: null, name: null, arguments: "" };
        if (tc.id) c.id = tc.id;
        if (tc.function?.name) c.name = tc.function.name;
        if (typeof tc.function?.arguments === "string") c.arguments += tc.function.arguments;
        calls.set(tc.index, c);
      }
      if (choice.finish_reason) s.finish_reason = choice.finish_reason;
    }
  }
  s.tool_calls = [...calls.values()].sort((a, b) => a.index - b.index);
  return s;
}

async function whole() {
  const s = emptySummary();
  const r = await client.chat.completions.create({ model, messages, tools, stream: false });
  noteEnvelope(s, r);
  s.chunks = 1;
  s.usage = r.usage ?? null;
  const c = r.choices[0];
  const m = c.message;
  if (typeof m.content === "string") s.text = m.content;
  for (const field of ["reasoning_content", "reasoning"]) {
    if (typeof m[field] === "string") s.reasoning[field] = m[field];
  }
  s.tool_calls = (m.tool_calls ?? []).map((tc, index) => ({
    index,
    id: tc.id ?? null,
    name: tc.function?.name ?? null,
    arguments: tc.function?.arguments ?? "",
  }));
  s.finish_reason = c.finish_reason ?? null;
  return s;
}

const out = {};
try {
  for (const step of steps) {
    if (step === "stream") out.stream = await streamed();
    else if (step === "whole") out.whole = await whole();
    else throw new Error(`unknown step ${step}`);
  }
} catch (err) {
  const e = {
    name: err?.constructor?.name ?? "Error",
    status: err?.status ?? null,
    message: String(err?.message ?? err),
    error: err?.error ?? null,
    headers: err?.headers ? Object.fromEntries(err.headers.entries?.() ?? []) : null,
  };
  if (process.env.EXPECT_ERROR === "1") {
    console.log(JSON.stringify({ ...out, error: e }));
    process.exit(0);
  }
  console.error(JSON.stringify({ ...out, error: e }));
  process.exit(1);
}
if (process.env.EXPECT_ERROR === "1") {
  console.error(`expected an SDK error, got none: ${JSON.stringify(out)}`);
  process.exit(1);
}
console.log(JSON.stringify(out));
