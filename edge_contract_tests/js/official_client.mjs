// supabase-js, used as an app uses it, against a project: node official_client.mjs URL KEY.
// Prints one JSON object: what each chat-table read answered, and what functions.invoke of
// both functions answered (a new conversation, then a sync of it with its token).
import { createClient } from "@supabase/supabase-js";

const [url, key] = process.argv.slice(2);
const supabase = createClient(url, key, {
  auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
});

const reads = {};
for (const table of ["chat_conversations", "chat_messages"]) {
  const { data, error, status } = await supabase.from(table).select("id").limit(1);
  reads[table] = { status, code: error?.code ?? null, rows: data?.length ?? null };
}

async function invoke(name, body) {
  const { data, error } = await supabase.functions.invoke(name, { body });
  if (!error) return { ok: true, data };
  return { ok: false, status: error.context?.status ?? null, error: error.name };
}

const visitorId = `supabase-js-${crypto.randomUUID()}`;
const sent = await invoke("handle-chat-message", { visitorId, message: "hello from supabase-js" });
const synced = sent.ok
  ? await invoke("chat-visitor-sync", {
      conversationId: sent.data.conversationId,
      conversationToken: sent.data.conversationToken,
    })
  : null;
console.log(JSON.stringify({
  reads,
  message: sent.ok ? { ok: true, conversationId: sent.data.conversationId } : sent,
  sync: synced?.ok ? { ok: true, texts: synced.data.messages.map((m) => m.text) } : synced,
}));
