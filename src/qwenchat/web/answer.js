// One streamed answer put together from its chunks: reasoning, content, tool calls, finish
// reason and usage, and the timings the playground reports (time to first token, tokens/s).
//
// Tool-call deltas are merged by index: the first delta of a call carries its id and name,
// later ones append to the arguments string. Times come from the caller's clock
// (performance.now() in the page), so this module stays pure and testable in Node.

function wholeCall(call) {
  try {
    JSON.parse(call.function.arguments || "{}");
  } catch {
    return false;
  }
  return Boolean(call.id && call.function.name);
}

export class StreamedAnswer {
  constructor(startedAt) {
    this.startedAt = startedAt;
    this.firstTokenAt = null;
    this.firstTextAt = null;
    this.endedAt = null;
    this.reasoning = "";
    this.content = "";
    this.toolCalls = [];
    this.finishReason = null;
    this.usage = null;
  }

  /** Adds one chunk (an OpenAI chat.completion.chunk object) received at time `now`. */
  add(chunk, now) {
    if (chunk.usage) this.usage = chunk.usage;
    for (const choice of chunk.choices || []) {
      if (choice.index) continue; // the playground asks for n = 1
      const delta = choice.delta || {};
      const text = Boolean(delta.reasoning_content || delta.content);
      if ((text || delta.tool_calls) && this.firstTokenAt === null) this.firstTokenAt = now;
      if (text && this.firstTextAt === null) this.firstTextAt = now;
      this.reasoning += delta.reasoning_content || "";
      this.content += delta.content || "";
      for (const call of delta.tool_calls || []) this.mergeCall(call);
      if (choice.finish_reason) this.finishReason = choice.finish_reason;
    }
  }

  mergeCall(delta) {
    // a delta without an index continues the call in progress (or starts the first)
    const index = delta.index ?? Math.max(0, this.toolCalls.length - (delta.id ? 0 : 1));
    let call = this.toolCalls[index];
    if (!call) {
      call = { id: "", type: "function", function: { name: "", arguments: "" } };
      this.toolCalls[index] = call;
    }
    if (delta.id) call.id = delta.id;
    if (delta.function?.name) call.function.name += delta.function.name;
    if (delta.function?.arguments) call.function.arguments += delta.function.arguments;
  }

  /** Marks the end of the stream (completed, stopped or failed) at time `now`. */
  end(now) {
    this.endedAt = now;
  }

  /**
   * The assistant message to keep in the conversation (null fields left out). A stream cut
   * short (`complete` false) may end inside a call: calls without a name, an id or whole
   * JSON arguments are dropped, since the server would refuse them in every later turn.
   */
  message(complete = true) {
    const message = { role: "assistant", content: this.content };
    if (this.reasoning) message.reasoning_content = this.reasoning;
    const calls = this.toolCalls.filter((call) => call && (complete || wholeCall(call)));
    if (calls.length) message.tool_calls = calls;
    return message;
  }

  /** The numbers shown under the answer; token counts are null without a usage chunk. */
  stats() {
    const usage = this.usage || {};
    const output = usage.completion_tokens ?? null;
    const ttft = this.firstTokenAt === null ? null : (this.firstTokenAt - this.startedAt) / 1000;
    const total = this.endedAt === null ? null : (this.endedAt - this.startedAt) / 1000;
    return {
      promptTokens: usage.prompt_tokens ?? null,
      cachedTokens: usage.prompt_tokens_details?.cached_tokens ?? null,
      completionTokens: output,
      reasoningTokens: usage.completion_tokens_details?.reasoning_tokens ?? null,
      ttftSeconds: ttft,
      totalSeconds: total,
      tokensPerSecond: this.rate(output, total),
      finishReason: this.finishReason,
    };
  }

  /**
   * Output tokens per second. With streamed text, the tokens after the first over the time
   * after it (the first token's wait is the TTFT). Tool calls arrive whole once parsed, so
   * an answer of tool calls alone is rated over the request's whole time, prompt included.
   */
  rate(output, total) {
    if (!output || total === null) return null;
    if (this.firstTextAt === null) return total > 0 ? output / total : null;
    const generating = (this.endedAt - this.firstTextAt) / 1000;
    return output > 1 && generating > 0 ? (output - 1) / generating : null;
  }
}
