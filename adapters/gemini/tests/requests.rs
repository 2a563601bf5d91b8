//! Hand-written Gemini requests for the cases the captures do not cover.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use cligate_adapter_gemini::GeminiAdapter;
use cligate_adapter_sdk::{Adapter, AdapterError};
use common::*;
use serde_json::{Value, json};

fn roles(body: &Value) -> Vec<&str> {
    body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect()
}

const PNG: &str = "iVBORw0KGgo=";

#[test]
fn openapi_subset_parameters_become_json_schema() {
    let (_, body) = pivot_of(json!({
        "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
        "tools": [{"functionDeclarations": [
            {"name": "search", "description": "Search the code",
             "parameters": {"type": "OBJECT", "propertyOrdering": ["query", "limit"],
                "properties": {
                    "query": {"type": "STRING", "description": "what"},
                    "limit": {"type": "INTEGER", "nullable": true, "minimum": 1, "maximum": "50"},
                    "kinds": {"type": "ARRAY", "items": {"type": "STRING", "enum": ["fn", "struct"]}, "maxItems": "3"}
                },
                "required": ["query"]}},
            {"name": "noop"}
        ]}]
    }));
    assert_eq!(
        body["tools"],
        json!([
            {"type": "function", "function": {"name": "search", "description": "Search the code",
             "parameters": {"type": "object",
                "properties": {
                    "query": {"type": "string", "description": "what"},
                    "limit": {"type": ["integer", "null"], "minimum": 1, "maximum": 50},
                    "kinds": {"type": "array", "items": {"type": "string", "enum": ["fn", "struct"]}, "maxItems": 3}
                },
                "required": ["query"]}}},
            {"type": "function", "function": {"name": "noop", "parameters": {"type": "object", "properties": {}}}}
        ])
    );
}

#[test]
fn code_assist_request_is_unwrapped_and_its_identifiers_removed() {
    let request = json!({
        "model": "models/gemini-2.5-pro",
        "project": "my-gcp-project-123",
        "user_prompt_id": "prompt-7f3a",
        "request": {
            "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
            "systemInstruction": {"role": "user", "parts": [{"text": "Be brief."}]},
            "generationConfig": {"maxOutputTokens": 256, "thinkingConfig": {"includeThoughts": true, "thinkingBudget": 8192}},
            "session_id": "session-42",
            "labels": {"team": "x"}
        }
    });
    let pivot = translate(post(
        "/v1internal:streamGenerateContent",
        Some("alt=sse"),
        &request,
    ));
    assert_eq!(pivot.model, "gemini-2.5-pro");
    assert!(pivot.stream);
    assert_eq!(pivot.session_id.as_deref(), Some("session-42"));
    let removed: Vec<_> = pivot
        .removed
        .iter()
        .map(|r| (r.location.as_str(), r.value.as_str()))
        .collect();
    assert_eq!(
        removed,
        [
            ("project", "my-gcp-project-123"),
            ("user_prompt_id", "prompt-7f3a")
        ]
    );
    assert_eq!(pivot.state, br#"{"t":true,"w":true}"#);
    let body = body(&pivot);
    assert_eq!(roles(&body), ["system", "user"]);
    assert_eq!(body["max_tokens"], 256);
    assert_eq!(body["reasoning_effort"], "medium");
    let text = String::from_utf8(pivot.body.clone()).unwrap();
    for secret in ["my-gcp-project-123", "prompt-7f3a", "session-42", "team"] {
        assert!(!text.contains(secret), "{secret} reached the pivot");
    }

    // Unary, and the answer is wrapped.
    let pivot = translate(post("/v1internal:generateContent", None, &request));
    assert!(!pivot.stream);
    let answer = json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}]});
    let response = GeminiAdapter::translate_response(
        context_for(&pivot, "/v1internal:generateContent", None),
        serde_json::to_vec(&answer).unwrap(),
    )
    .unwrap();
    let response: Value = serde_json::from_slice(&response.body).unwrap();
    assert_eq!(
        response["response"]["candidates"][0]["content"]["parts"],
        json!([{"text": "ok"}])
    );
    assert_eq!(response["response"]["modelVersion"], "gemini-2.5-pro");
    assert_eq!(response["traceId"], "req_test_0001");

    let missing = post("/v1internal:generateContent", None, &json!({"model": "m"}));
    assert!(matches!(
        GeminiAdapter::translate_request(missing, options()),
        Err(AdapterError::InvalidRequest(_))
    ));
}

#[test]
fn an_image_read_by_a_tool_reaches_the_backend_after_the_tool_message() {
    // Gemini CLI's read_file on a PNG: the inline data sits next to the functionResponse.
    let sibling = json!({"contents": [
        {"role": "user", "parts": [{"text": "what is in shot.png?"}]},
        {"role": "model", "parts": [{"functionCall": {"id": "rf_1", "name": "read_file", "args": {"file_path": "shot.png"}},
                                      "thoughtSignature": "skip_thought_signature_validator"}]},
        {"role": "user", "parts": [
            {"functionResponse": {"id": "rf_1", "name": "read_file", "response": {"output": "Binary content provided (1 item(s))."}}},
            {"inlineData": {"mimeType": "image/png", "data": PNG}}
        ]}
    ]});
    // Models with multimodal function responses: the media is inside the response.
    let nested = json!({"contents": [
        {"role": "user", "parts": [{"text": "what is in shot.png?"}]},
        {"role": "model", "parts": [{"functionCall": {"id": "rf_1", "name": "read_file", "args": {"file_path": "shot.png"}}}]},
        {"role": "user", "parts": [
            {"functionResponse": {"id": "rf_1", "name": "read_file", "response": {"output": "Binary content provided (1 item(s))."},
                                  "parts": [{"inlineData": {"mimeType": "image/png", "data": PNG}}]}}
        ]}
    ]});
    for request in [sibling, nested] {
        let (pivot, body) = pivot_of(request);
        assert_eq!(roles(&body), ["user", "assistant", "tool", "user"]);
        assert_eq!(body["messages"][2]["tool_call_id"], "rf_1");
        assert_eq!(
            body["messages"][2]["content"],
            "Binary content provided (1 item(s))."
        );
        assert_eq!(
            body["messages"][3]["content"],
            json!([{"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{PNG}")}}])
        );
        assert!(pivot.warnings.is_empty(), "{:?}", pivot.warnings);
    }
}

#[test]
fn parallel_calls_without_ids_get_positional_ids_matched_by_name_in_order() {
    let (_, body) = pivot_of(json!({"contents": [
        {"role": "user", "parts": [{"text": "read a, b and list"}]},
        {"role": "model", "parts": [
            {"text": "Reading."},
            {"functionCall": {"name": "read_file", "args": {"file_path": "a"}}},
            {"functionCall": {"name": "read_file", "args": {"file_path": "b"}}},
            {"functionCall": {"name": "ls", "args": {}}}
        ]},
        {"role": "user", "parts": [
            {"functionResponse": {"name": "ls", "response": {"output": "a b"}}},
            {"functionResponse": {"name": "read_file", "response": {"output": "A"}}},
            {"functionResponse": {"name": "read_file", "response": {"error": "no such file"}}}
        ]},
        {"role": "model", "parts": [{"text": "Done."}]}
    ]}));
    assert_eq!(
        roles(&body),
        ["user", "assistant", "tool", "tool", "tool", "assistant"]
    );
    let assistant = &body["messages"][1];
    assert_eq!(assistant["content"], "Reading.");
    let ids: Vec<&str> = assistant["tool_calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["call_1_1", "call_1_2", "call_1_3"]);
    assert_eq!(
        assistant["tool_calls"][0]["function"]["arguments"],
        "{\"file_path\":\"a\"}"
    );
    let tool = |i: usize| {
        (
            body["messages"][i]["tool_call_id"].as_str().unwrap(),
            body["messages"][i]["content"].as_str().unwrap(),
        )
    };
    assert_eq!(tool(2), ("call_1_3", "a b"));
    assert_eq!(tool(3), ("call_1_1", "A"));
    assert_eq!(tool(4), ("call_1_2", "Error: no such file"));
}

#[test]
fn parallel_calls_with_ids_are_matched_by_id_whatever_the_order() {
    let (pivot, body) = pivot_of(json!({"contents": [
        {"role": "user", "parts": [{"text": "go"}]},
        {"role": "model", "parts": [
            {"functionCall": {"id": "x1", "name": "f", "args": {"n": 1}}},
            {"functionCall": {"id": "x2", "name": "f", "args": {"n": 2}}}
        ]},
        {"role": "user", "parts": [
            {"functionResponse": {"id": "x2", "name": "f", "response": {"output": "two"}}},
            {"functionResponse": {"id": "x1", "name": "f", "response": {"output": "one"}}}
        ]}
    ]}));
    assert_eq!(body["messages"][2]["tool_call_id"], "x2");
    assert_eq!(body["messages"][2]["content"], "two");
    assert_eq!(body["messages"][3]["tool_call_id"], "x1");
    assert!(pivot.warnings.is_empty());
}

#[test]
fn broken_histories_still_make_a_valid_chat_conversation() {
    let (pivot, body) = pivot_of(json!({"contents": [
        {"role": "user", "parts": [{"functionResponse": {"name": "orphan", "response": {"output": "late"}}}]},
        {"role": "model", "parts": [{"functionCall": {"id": "c", "name": "f", "args": null}}]},
        {"role": "user", "parts": [{"text": "never mind"}]}
    ]}));
    assert_eq!(roles(&body), ["user", "assistant", "tool", "user"]);
    assert_eq!(
        body["messages"][0]["content"],
        "[Result of function orphan]\nlate"
    );
    assert_eq!(
        body["messages"][1]["tool_calls"][0]["function"]["arguments"],
        "{}"
    );
    assert_eq!(
        body["messages"][2]["content"],
        "[no result was returned for this call]"
    );
    assert!(
        pivot
            .warnings
            .contains(&"function call without a response".to_owned())
    );
    assert!(
        pivot
            .warnings
            .contains(&"function response without a matching call sent as text".to_owned())
    );
}

#[test]
fn responses_split_over_two_user_turns_still_pair_with_their_calls() {
    let (pivot, body) = pivot_of(json!({"contents": [
        {"role": "user", "parts": [{"text": "go"}]},
        {"role": "model", "parts": [
            {"functionCall": {"id": "a", "name": "f", "args": {}}},
            {"functionCall": {"id": "b", "name": "f", "args": {}}}
        ]},
        {"role": "user", "parts": [{"functionResponse": {"id": "a", "name": "f", "response": {"output": "A"}}}]},
        {"role": "user", "parts": [{"functionResponse": {"id": "b", "name": "f", "response": {"output": "B"}}}]},
        {"role": "user", "parts": [{"text": "thanks"}]}
    ]}));
    assert_eq!(roles(&body), ["user", "assistant", "tool", "tool", "user"]);
    assert_eq!(body["messages"][3]["tool_call_id"], "b");
    assert!(pivot.warnings.is_empty(), "{:?}", pivot.warnings);
}

#[test]
fn media_parts_map_to_images_text_or_a_warned_placeholder() {
    let (pivot, body) = pivot_of(json!({"contents": [{"role": "user", "parts": [
        {"text": "look"},
        {"inlineData": {"mimeType": "image/jpeg", "data": "AAAA"}},
        {"fileData": {"mimeType": "image/png", "fileUri": "https://example.com/a.png"}},
        {"fileData": {"mimeType": "application/pdf", "fileUri": "gs://bucket/spec.pdf"}},
        {"inlineData": {"mimeType": "text/plain", "data": "aGVsbG8gd29ybGQ="}},
        {"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0="}}
    ]}]}));
    assert_eq!(
        body["messages"][0]["content"],
        json!([
            {"type": "text", "text": "look"},
            {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,AAAA"}},
            {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
            {"type": "text", "text": "[file gs://bucket/spec.pdf (application/pdf)]"},
            {"type": "text", "text": "hello world"},
            {"type": "text", "text": "[a application/pdf attachment was omitted: the model cannot read it]"}
        ])
    );
    assert_eq!(
        pivot.warnings,
        [
            "fileData sent as a text reference",
            "dropped inlineData application/pdf"
        ]
    );
}

#[test]
fn thoughts_in_history_become_reasoning_and_foreign_signatures_vanish() {
    let (_, body) = pivot_of(json!({"contents": [
        {"role": "user", "parts": [{"text": "q"}]},
        {"role": "model", "parts": [
            {"text": "Let me think", "thought": true},
            {"text": "Answer", "thoughtSignature": "CiQBjz1rX2FiY2RlZmdo"}
        ]}
    ]}));
    assert_eq!(
        body["messages"][1],
        json!({"role": "assistant", "content": "Answer", "reasoning_content": "Let me think"})
    );
}

#[test]
fn tool_config_modes() {
    let tools = json!([{"functionDeclarations": [{"name": "a"}, {"name": "b"}, {"name": "c"}]},
                       {"googleSearch": {}}, {"codeExecution": {}}]);
    let case = |config: Value| {
        let (pivot, body) = pivot_of(
            json!({"contents": [{"parts": [{"text": "x"}]}], "tools": tools, "toolConfig": config}),
        );
        let names: Vec<String> = body["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["function"]["name"].as_str().unwrap().to_owned())
            .collect();
        (body["tool_choice"].clone(), names, pivot.warnings)
    };
    let (choice, names, warnings) = case(json!({"functionCallingConfig": {"mode": "AUTO"}}));
    assert_eq!((choice, names.len()), (json!("auto"), 3));
    assert_eq!(
        warnings,
        [
            "dropped server tool googleSearch",
            "dropped server tool codeExecution"
        ]
    );
    assert_eq!(
        case(json!({"functionCallingConfig": {"mode": "NONE"}})).0,
        json!("none")
    );
    assert_eq!(
        case(json!({"functionCallingConfig": {"mode": "VALIDATED"}})).0,
        json!("auto")
    );
    assert_eq!(
        case(json!({"functionCallingConfig": {"mode": "ANY"}})).0,
        json!("required")
    );
    let (choice, names, _) =
        case(json!({"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["b"]}}));
    assert_eq!(
        choice,
        json!({"type": "function", "function": {"name": "b"}})
    );
    assert_eq!(names.len(), 3);
    let (choice, names, warnings) =
        case(json!({"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["a", "c"]}}));
    assert_eq!(
        (choice, names),
        (json!("required"), vec!["a".to_owned(), "c".to_owned()])
    );
    assert!(warnings.contains(&"filtered tools by allowedFunctionNames".to_owned()));
    // A tool choice without tools would be a 400 upstream.
    let (_, body) = pivot_of(
        json!({"contents": [{"parts": [{"text": "x"}]}], "toolConfig": {"functionCallingConfig": {"mode": "ANY"}}}),
    );
    assert!(body.get("tool_choice").is_none());
}

#[test]
fn generation_config_fields() {
    let (pivot, body) = pivot_of(json!({
        "contents": [{"parts": [{"text": "x"}]}],
        "systemInstruction": "plain string system",
        "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}],
        "generationConfig": {"maxOutputTokens": 1000, "temperature": 0, "topP": 1, "topK": 40.0,
            "stopSequences": ["END"], "candidateCount": 1, "seed": 7, "presencePenalty": 0.5,
            "responseMimeType": "application/json",
            "responseSchema": {"type": "ARRAY", "items": {"type": "OBJECT", "properties": {"n": {"type": "NUMBER"}}}},
            "thinkingConfig": {"thinkingBudget": 0}}
    }));
    assert_eq!(
        body["messages"][0],
        json!({"role": "system", "content": "plain string system"})
    );
    assert_eq!(body["max_tokens"], 1000);
    assert_eq!(body["temperature"], json!(0.0));
    assert_eq!(body["top_p"], json!(1.0));
    assert_eq!(body["top_k"], 40);
    assert_eq!(body["stop"], json!(["END"]));
    assert_eq!(body["reasoning_effort"], "none");
    assert_eq!(
        body["response_format"],
        json!({"type": "json_schema", "json_schema": {"name": "response",
               "schema": {"type": "array", "items": {"type": "object", "properties": {"n": {"type": "number"}}}}}})
    );
    assert_eq!(
        pivot.warnings,
        [
            "dropped safetySettings",
            "dropped presencePenalty",
            "dropped seed"
        ]
    );
    // Without thinkingConfig thoughts are not requested.
    assert_eq!(pivot.state, b"{}");

    let (_, body) = pivot_of(
        json!({"contents": [], "generationConfig": {"responseMimeType": "application/json"}}),
    );
    assert_eq!(body["response_format"], json!({"type": "json_object"}));

    let request = post(
        "/v1beta/models/m:generateContent",
        None,
        &json!({"contents": [], "generationConfig": {"candidateCount": 2}}),
    );
    assert!(matches!(
        GeminiAdapter::translate_request(request, options()),
        Err(AdapterError::Unsupported(_))
    ));
}

#[test]
fn snake_case_bodies_as_in_googles_curl_examples() {
    let (pivot, body) = pivot_of(json!({
        "system_instruction": {"parts": [{"text": "sys"}]},
        "contents": [{"role": "user", "parts": [{"text": "what"}, {"inline_data": {"mime_type": "image/png", "data": PNG}}]}],
        "tools": [{"function_declarations": [{"name": "f", "parameters_json_schema": {"type": "object"}}]}],
        "tool_config": {"function_calling_config": {"mode": "ANY", "allowed_function_names": ["f"]}},
        "generation_config": {"max_output_tokens": 9, "stop_sequences": ["x"], "thinking_config": {"include_thoughts": true}}
    }));
    assert_eq!(roles(&body), ["system", "user"]);
    assert_eq!(body["messages"][1]["content"][1]["type"], "image_url");
    assert_eq!(
        body["tools"][0]["function"]["parameters"],
        json!({"type": "object"})
    );
    assert_eq!(body["tool_choice"]["function"]["name"], "f");
    assert_eq!(body["max_tokens"], 9);
    assert_eq!(pivot.state, br#"{"t":true}"#);
}

#[test]
fn paths_bodies_and_versions() {
    let request = json!({"contents": [{"role": "user", "parts": [{"text": "x"}]}]});
    let pivot = translate(post(
        "/v1/models/qwen3:8b:streamGenerateContent",
        None,
        &request,
    ));
    assert_eq!(pivot.model, "qwen3:8b");
    // Without alt=sse the stream is a JSON array.
    assert_eq!(pivot.stream_headers[0].value, "application/json");
    let bad = |path: &str, body: &[u8]| {
        let mut req = post(path, None, &json!({}));
        req.body = body.to_vec();
        GeminiAdapter::translate_request(req, options()).unwrap_err()
    };
    assert!(matches!(
        bad("/v1beta/models/m:generateContent", b"{not json"),
        AdapterError::InvalidRequest(_)
    ));
    assert!(matches!(
        bad("/v1beta/models/m:generateContent", br#"{"contents": 5}"#),
        AdapterError::InvalidRequest(_)
    ));
    assert!(matches!(
        bad("/v1beta/models/m:embedContent", b"{}"),
        AdapterError::Unsupported(_)
    ));
    assert!(matches!(
        bad("/v1internal:countTokens", b"{}"),
        AdapterError::Unsupported(_)
    ));
    // Unknown fields are ignored.
    let (_, body) = pivot_of(
        json!({"contents": [{"role": "user", "parts": [{"text": "x", "videoMetadata": {}, "newField": 1}], "x": 2}],
                                    "labels": {"a": "b"}, "futureField": {"deep": [1]}}),
    );
    assert_eq!(body["messages"][0]["content"], "x");
    // `null` lists read as empty ones.
    let (_, body) = pivot_of(
        json!({"contents": [{"role": "user", "parts": null}, {"parts": [{"text": "y"}]}],
                                    "tools": null, "generationConfig": {"stopSequences": null}}),
    );
    assert_eq!(body["messages"], json!([{"role": "user", "content": "y"}]));
}

#[test]
fn count_tokens_through_the_catch_all_asks_the_backend_for_one_token() {
    let request = json!({"contents": [{"role": "user", "parts": [{"text": "count me"}]}]});
    let pivot = translate(post("/v1beta/models/org/model:countTokens", None, &request));
    assert_eq!(pivot.model, "org/model");
    assert!(!pivot.stream);
    let body = body(&pivot);
    assert_eq!(body["max_tokens"], 1);
    assert_eq!(body["messages"][0]["content"], "count me");
    let answer = json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": "x"}, "finish_reason": "length"}],
                        "usage": {"prompt_tokens": 42, "completion_tokens": 1, "total_tokens": 43}});
    let response = GeminiAdapter::translate_response(
        context_for(&pivot, "/v1beta/models/org/model:countTokens", None),
        serde_json::to_vec(&answer).unwrap(),
    )
    .unwrap();
    assert_eq!(
        serde_json::from_slice::<Value>(&response.body).unwrap(),
        json!({"totalTokens": 42})
    );
}
