// Bytes that may be too big to hold: in memory, or in an unlinked file of a private folder
// (nothing to clean up, even after a crash). A fetched 100 MB message travels as one of these,
// so memory does not grow with message size.
#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>

namespace juniper {

class Spooled {
 public:
  Spooled() = default;
  explicit Spooled(std::string bytes) : memory_(std::move(bytes)) {}
  // An empty file in `dir` (O_TMPFILE, mode 0600; where the file system has no O_TMPFILE, a
  // named file unlinked at once). Throws std::system_error.
  static Spooled file_in(const std::filesystem::path& dir);

  Spooled(Spooled&& other) noexcept;
  Spooled& operator=(Spooled&& other) noexcept;
  Spooled(const Spooled&) = delete;
  Spooled& operator=(const Spooled&) = delete;
  ~Spooled();

  void append(std::string_view bytes);  // throws std::system_error (disk full: ENOSPC)
  // After a library wrote into fd() itself (GMime decoding attachments into it): the size from
  // the file.
  void written_directly();
  std::size_t size() const noexcept { return fd_ < 0 ? memory_.size() : file_size_; }
  bool in_file() const noexcept { return fd_ >= 0; }
  int fd() const noexcept { return fd_; }                       // -1 when in memory
  std::string_view memory() const noexcept { return memory_; }  // empty when in a file
  std::string read() const;                                     // all of it, into memory
  // Every byte in order, in pieces of at most 64 kB (read with pread: the offset is untouched).
  void each_chunk(const std::function<void(std::string_view)>& f) const;

 private:
  std::string memory_;
  int fd_ = -1;
  std::size_t file_size_ = 0;
};

}  // namespace juniper
