// Fuzz target: the OAuth `state` coming back on /microsoft_outlook/confirm (attacker-controlled).
// Invariants: no crash; a state is only accepted with the MAC of its own model, id and nonce.
#include "oauth.hpp"

#include <cstdint>
#include <cstdlib>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const auto p = outlook::parse_state(text);
  if (!p.ok) return 0;
  if (p.kind == nullptr) std::abort();
  // The host's MAC is a function of this message only: a stand-in of the same shape (64 hex).
  const std::string message = outlook::state_message(p.model, p.id, p.nonce);
  std::string mac(64, '0');
  for (std::size_t i = 0; i < message.size(); ++i) mac[i % 64] = "0123456789abcdef"[(mac[i % 64] + message[i]) & 15];
  if (outlook::mac_matches(mac, p.csrf_token) != (p.csrf_token == mac)) std::abort();
  if (outlook::mac_matches(mac, "")) std::abort();
  return 0;
}
