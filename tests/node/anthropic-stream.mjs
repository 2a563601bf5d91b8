// The official `@anthropic-ai/sdk` against the gateway: `messages.stream()` + `finalMessage()`
// and the non-streaming `messages.create`. Prints a JSON summary on stdout; exits 1 on any SDK
// error (the error goes to stderr), unless EXPECT_ERROR=1, where the error is the expected
// outcome and is printed as {"error":{…}} on stdout (exit 0; exit 1 if no error happened).
//
// Environment:
//   BASE_URL    the gateway (`http://127.0.0.1:PORT`; the SDK appends `/v1/messages`)
//   API_KEY     the client's own key (default `sk-client-secret-never-forwarded`)
//   MODEL       the model to ask for (default `claude-sonnet-4-5`)
//   MAX_TOKENS  `max_tokens` (default 4096)
//   STEPS       comma list of `stream`, `create` (default `stream,create`), run in that order
//   TOOLS       `1` to declare two client tools (`read_file`, `run_shell`)
//   THINKING    `1` to ask for extended thinking (`{"type":"enabled","budget_tokens":2048}`)
//   USER_ID     `metadata.user_id` to send (default a Claude-Code-like JSON string)
//   MAX_RETRIES SDK retries (default 0: the scripted upstream plays each reply once)
import Anthropic from "@anthropic-ai/sdk";

const base = (process.env.BASE_URL ?? "").replace(/\/+$/, "");
if (!base) {
  console.error("BASE_URL is not set");
  process.exit(2);
}
const client = new Anthropic({
  baseURL: base,
  apiKey: process.env.API_KEY ?? "sk-client-secret-never-forwarded",
  maxRetries: Number(process.env.MAX_RETRIES ?? 0),
  timeout: 60_000,
});
const steps = (process.env.STEPS ?? "stream,create").split(",").filter(Boolean);

const params = {
  model: process.env.MODEL ?? "claude-sonnet-4-5",
  max_tokens: Number(process.env.MAX_TOKENS ?? 4096),
  system: [{ type: "text", text: "You are a terse assistant." }],
  messages: [{ role: "user", content: "Say hello, and use a tool if you have one." }],
  metadata: {
    user_id:
      process.env.USER_ID ??
      JSON.stringify({ device_id: "d3v1c3-1d-never-forwarded", account_uuid: "", session_id: "5e55-10n" }),
  },
};
if (process.env.TOOLS === "1") {
  params.tools = [
    {
      name: "read_file",
      description: "Read a file",
      input_schema: {
        type: "object",
        properties: { path: { type: "string" }, range: { type: "array", items: { type: "integer" } } },
        required: ["path"],
      },
    },
    {
      name: "run_shell",
      description: "Run a shell command",
      input_schema: {
        type: "object",
        properties: { command: { type: "string" }, timeout_ms: { type: "integer" } },
        required: ["command"],
      },
    },
  ];
}
if (process.env.THINKING === "1") {
  params.thinking = { type: "enabled", budget_tokens: 2048 };
}

async function streamed(out) {
  const s = { events: [], deltas: {}, message: null };
  out.stream = s;
  const stream = client.messages.stream(params);
  for await (const event of stream) {
    s.events.push(event.type);
    if (event.type === "content_block_delta") {
      s.deltas[event.delta.type] = (s.deltas[event.delta.type] ?? 0) + 1;
    }
  }
  s.message = await stream.finalMessage();
}

async function created(out) {
  out.create = { message: await client.messages.create({ ...params, stream: false }) };
}

const out = {};
try {
  for (const step of steps) {
    if (step === "stream") await streamed(out);
    else if (step === "create") await created(out);
    else throw new Error(`unknown step ${step}`);
  }
} catch (err) {
  const e = {
    name: err?.constructor?.name ?? "Error",
    is_api_error: err instanceof Anthropic.APIError,
    is_connection_error: err instanceof Anthropic.APIConnectionError,
    status: err?.status ?? null,
    type: err?.type ?? null,
    message: String(err?.message ?? err),
    error: err?.error ?? null,
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
