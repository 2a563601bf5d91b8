// The official `@google/genai` SDK against the gateway's `gemini` adapter: one streamed
// (`generateContentStream`, `?alt=sse`) and one whole (`generateContent`) call. Prints a JSON
// summary of what the SDK assembled on stdout (last line); exits 1 on any SDK error (printed
// to stderr), unless EXPECT_ERROR=1, where an error is the expected outcome: the summary then
// has `error` and the partial result of the step that threw (exit 0; exit 1 if no error).
//
// Environment:
//   BASE_URL          the gateway (`http://127.0.0.1:PORT`)
//   SDK               `3.3` (`@google/genai`, default) or `1.30` (`@google/genai-130`, the
//                     version Gemini CLI 0.61 bundles, with the strict SSE frame regex)
//   API_KEY           the client's key, sent as `x-goog-api-key`
//   MODEL             the model to ask for (default `gemini-2.5-flash`)
//   STEPS             comma list of `stream`, `whole` (default `stream,whole`), in that order
//   INCLUDE_THOUGHTS  `1`: `thinkingConfig.includeThoughts`
//   TOOLS             `1`: declare `read_file` and `run_shell`
//   PRIVILEGED_USER_ID  sent as `x-gemini-api-privileged-user-id` (as Gemini CLI does)

const sdkVersion = process.env.SDK ?? "3.3";
const pkg = sdkVersion === "1.30" ? "@google/genai-130" : "@google/genai";
const { GoogleGenAI } = await import(pkg);

const baseUrl = (process.env.BASE_URL ?? "").replace(/\/+$/, "");
if (!baseUrl) {
  console.error("BASE_URL is not set");
  process.exit(2);
}
const headers = {};
if (process.env.PRIVILEGED_USER_ID) {
  headers["x-gemini-api-privileged-user-id"] = process.env.PRIVILEGED_USER_ID;
}
const ai = new GoogleGenAI({
  apiKey: process.env.API_KEY ?? "gemini-client-key",
  httpOptions: { baseUrl, headers, timeout: 60_000 },
});
const model = process.env.MODEL ?? "gemini-2.5-flash";
const steps = (process.env.STEPS ?? "stream,whole").split(",").filter(Boolean);

const config = {
  systemInstruction: "You are a terse assistant.",
  temperature: 0.5,
  maxOutputTokens: 512,
};
if (process.env.INCLUDE_THOUGHTS === "1") {
  config.thinkingConfig = { includeThoughts: true, thinkingBudget: 2048 };
}
if (process.env.TOOLS === "1") {
  config.tools = [
    {
      functionDeclarations: [
        {
          name: "read_file",
          description: "Read a file",
          parametersJsonSchema: {
            type: "object",
            properties: { path: { type: "string" }, range: { type: "array", items: { type: "integer" } } },
            required: ["path"],
          },
        },
        {
          name: "run_shell",
          description: "Run a shell command",
          parametersJsonSchema: {
            type: "object",
            properties: { command: { type: "string" }, timeout_ms: { type: "integer" } },
            required: ["command"],
          },
        },
      ],
    },
  ];
}
const contents = [{ role: "user", parts: [{ text: "Say hello, and call a tool if you have one." }] }];

function emptySummary() {
  return {
    sdk: sdkVersion,
    chunks: 0,
    text: "",
    thoughts: "",
    function_calls: [],
    finish_reason: null,
    // Chunks carrying a finishReason.
    finish_chunks: 0,
    usage: null,
    model_version: null,
    response_id: null,
    // Part kinds in order: text, thought, functionCall, other.
    part_kinds: [],
    // What the SDK's own `.text` getter gave, concatenated over chunks.
    sdk_text: "",
  };
}

function note(s, resp) {
  s.chunks += 1;
  if (resp.modelVersion && s.model_version === null) s.model_version = resp.modelVersion;
  if (resp.responseId && s.response_id === null) s.response_id = resp.responseId;
  if (resp.usageMetadata) s.usage = resp.usageMetadata;
  const cand = resp.candidates?.[0];
  if (cand?.finishReason) {
    s.finish_reason = cand.finishReason;
    s.finish_chunks += 1;
  }
  for (const p of cand?.content?.parts ?? []) {
    if (p.functionCall) {
      s.part_kinds.push("functionCall");
      s.function_calls.push({
        id: p.functionCall.id ?? null,
        name: p.functionCall.name ?? null,
        args: p.functionCall.args ?? null,
        has_signature: typeof p.thoughtSignature === "string",
      });
    } else if (typeof p.text === "string" && p.thought) {
      s.part_kinds.push("thought");
      s.thoughts += p.text;
    } else if (typeof p.text === "string") {
      s.part_kinds.push("text");
      s.text += p.text;
    } else {
      s.part_kinds.push("other");
    }
  }
  // The getter logs a warning when there are non-text parts; keep stdout clean.
  const warn = console.warn;
  console.warn = () => {};
  try {
    const t = resp.text;
    if (typeof t === "string") s.sdk_text += t;
  } finally {
    console.warn = warn;
  }
}

let current = null;

async function streamed() {
  const s = (current = emptySummary());
  const stream = await ai.models.generateContentStream({ model, contents, config });
  for await (const chunk of stream) note(s, chunk);
  return s;
}

async function whole() {
  const s = (current = emptySummary());
  const r = await ai.models.generateContent({ model, contents, config });
  note(s, r);
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
    name: err?.name ?? err?.constructor?.name ?? "Error",
    status: err?.status ?? null,
    message: String(err?.message ?? err),
    partial: current,
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
