#include "netfs/result.h"

namespace netfs {

bool is_retryable(int errnum) {
  switch (errnum) {
    case EAGAIN:
    case EINTR:
    case ECONNRESET:
    case ECONNABORTED:
    case ECONNREFUSED:
    case ENOTCONN:
    case EPIPE:
    case ESHUTDOWN:
    case EHOSTUNREACH:
    case ENETUNREACH:
    case ENETDOWN:
    case ENOBUFS:
      return true;
    default:
      return false;
  }
}

bool is_lasting_refusal(int errnum) {
  switch (errnum) {
    case ENOSPC:
    case EDQUOT:
    case EROFS:
    case EACCES:
    case EPERM:
    case EFBIG:
      return true;
    default:
      return false;
  }
}

}  // namespace netfs
