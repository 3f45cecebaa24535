#include "p9/munge_credential.h"

#include <munge.h>

#include <cstdlib>

namespace netfs::p9 {

Result<std::string> munge_credential() {
  char* cred = nullptr;
  munge_err_t e = munge_encode(&cred, nullptr, nullptr, 0);
  if (e != EMUNGE_SUCCESS) {
    std::free(cred);
    return make_error(EACCES, munge_strerror(e));
  }
  std::string out(cred);
  std::free(cred);
  return out;
}

}  // namespace netfs::p9
