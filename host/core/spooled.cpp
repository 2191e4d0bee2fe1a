#include "core/spooled.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <system_error>
#include <utility>
#include <vector>

namespace juniper {
namespace {

[[noreturn]] void fail(const std::string& what) { throw std::system_error(errno, std::generic_category(), what); }

}  // namespace

Spooled Spooled::file_in(const std::filesystem::path& dir) {
  Spooled s;
  s.fd_ = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (s.fd_ < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
    // A file system without O_TMPFILE (some network and overlay ones): a named file, unlinked
    // at once, so that a crash still leaves nothing behind but a moment's name.
    std::string name = (dir / "juniper-spool.XXXXXX").string();
    s.fd_ = ::mkostemp(name.data(), O_CLOEXEC);
    if (s.fd_ >= 0) ::unlink(name.c_str());
  }
  if (s.fd_ < 0) fail("cannot create a spool file in " + dir.string());
  return s;
}

void Spooled::written_directly() {
  if (fd_ < 0) return;
  struct stat st {};
  if (::fstat(fd_, &st) != 0) fail("cannot read the size of a spool file");
  file_size_ = static_cast<std::size_t>(st.st_size);
}

Spooled::Spooled(Spooled&& other) noexcept
    : memory_(std::move(other.memory_)), fd_(std::exchange(other.fd_, -1)), file_size_(std::exchange(other.file_size_, 0)) {}

Spooled& Spooled::operator=(Spooled&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    memory_ = std::move(other.memory_);
    fd_ = std::exchange(other.fd_, -1);
    file_size_ = std::exchange(other.file_size_, 0);
  }
  return *this;
}

Spooled::~Spooled() {
  if (fd_ >= 0) ::close(fd_);
}

void Spooled::append(std::string_view bytes) {
  if (fd_ < 0) {
    memory_.append(bytes);
    return;
  }
  while (!bytes.empty()) {
    const ssize_t n = ::pwrite(fd_, bytes.data(), bytes.size(), static_cast<off_t>(file_size_));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail("cannot write a spool file");
    file_size_ += static_cast<std::size_t>(n);
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

void Spooled::each_chunk(const std::function<void(std::string_view)>& f) const {
  if (fd_ < 0) {
    if (!memory_.empty()) f(memory_);
    return;
  }
  std::vector<char> buf(64 * 1024);
  for (std::size_t at = 0; at < file_size_;) {
    const ssize_t n = ::pread(fd_, buf.data(), std::min(buf.size(), file_size_ - at), static_cast<off_t>(at));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail("cannot read a spool file");
    f(std::string_view(buf.data(), static_cast<std::size_t>(n)));
    at += static_cast<std::size_t>(n);
  }
}

std::string Spooled::read() const {
  if (fd_ < 0) return memory_;
  std::string out;
  out.reserve(file_size_);
  each_chunk([&](std::string_view piece) { out.append(piece); });
  return out;
}

}  // namespace juniper
