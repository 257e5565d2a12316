// A minimal app that installs the packed braid-llm tarball and uses it like any npm user.
import { Model } from "braid-llm";

const out = {};
try {
  const m = await Model.load("./model.gguf");
  const s = m.createSession();
  await s.append("the hybrid model");
  let n = 0;
  for await (const ev of s.generate({ maxTokens: 3, temperature: 0 })) { if (ev.done) break; n++; }
  out.generated = n;
  out.arch = m.info.architecture;
  out.done = true;
} catch (e) {
  out.error = (e.code ?? "") + ": " + (e.message ?? e);
}
document.getElementById("result").textContent = JSON.stringify(out);
