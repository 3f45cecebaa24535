#include "tools/netfs/schemes.h"

#include "p9/export_attach.h"

namespace netfs::cli {

namespace {

Status connect_9p(const fuse::RemoteUrl& url, const fuse::MountOptions& opts, fuse::MountParts& parts,
                  std::string* why) {
  p9::ClientOptions co = opts.p9;
  co.endpoint = url.endpoint;
  co.aname = url.export_path;
  // A numeric user is a uid: sent as n_uname too, which .L servers prefer (and diod
  // without a user database, -N, needs). A name is left to the server's user database.
  auto uid = fuse::numeric_uname(co.uname);
  if (!uid.ok()) {
    if (why) *why = "uname '" + co.uname + "' is a number beyond any uid (at most 4294967294)";
    return uid.error();
  }
  if (*uid) co.n_uname = **uid;
  co.trace = &parts.engine->trace();
  auto c = p9::attach_export(co, why);
  if (!c.ok()) return c.error();
  parts.client = std::move(*c);
  return ok_status();
}

constexpr Scheme kSchemes[] = {
    {"9p://", "9p://[USER@]HOST[:PORT]/EXPORT", connect_9p},
    {"9p+unix://", "9p+unix:///SOCKET/EXPORT", connect_9p},
};

}  // namespace

std::span<const Scheme> schemes() { return kSchemes; }

const Scheme* scheme_of(std::string_view url) {
  for (const Scheme& s : kSchemes)
    if (url.starts_with(s.prefix)) return &s;
  return nullptr;
}

std::string scheme_forms() {
  std::string out;
  for (const Scheme& s : kSchemes) out += (out.empty() ? "" : " or ") + std::string(s.form);
  return out;
}

}  // namespace netfs::cli
