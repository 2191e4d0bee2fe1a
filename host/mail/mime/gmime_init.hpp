#pragma once

namespace juniper::mail::mime {

// Initialises GMime once for the process, from whichever thread comes first: g_mime_init()
// counts its callers with a plain counter, so every GMime user of the host comes through here
// (lazily: a server that has only started has not loaded GMime's tables).
void init_gmime();

}  // namespace juniper::mail::mime
