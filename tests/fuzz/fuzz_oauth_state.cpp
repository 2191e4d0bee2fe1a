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
  const std::string mac = outlook::state_mac("fuzz-database-secret", p.model, p.id, p.nonce);
  if (outlook::mac_matches(mac, p.csrf_token) != (p.csrf_token == mac)) std::abort();
  if (outlook::mac_matches(mac, "")) std::abort();
  return 0;
}
