// PaddedBuffer: byte storage followed by simdjson::SIMDJSON_PADDING readable bytes, so that a
// decoded segment can be parsed in place. The padding contract lives in the type: the only way
// to get a parse-ready pointer is data() of a PaddedBuffer.
#ifndef JWTGATE_JOSE_PADDED_BUFFER_H_
#define JWTGATE_JOSE_PADDED_BUFFER_H_

#include <simdjson.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>

namespace jwtgate::jose {

class PaddedBuffer {
 public:
  explicit PaddedBuffer(size_t capacity)
      : capacity_(capacity), data_(new uint8_t[capacity + simdjson::SIMDJSON_PADDING]) {
    std::memset(data_.get(), 0, capacity + simdjson::SIMDJSON_PADDING);
  }
  uint8_t* data() noexcept { return data_.get(); }
  const uint8_t* data() const noexcept { return data_.get(); }
  size_t capacity() const noexcept { return capacity_; }

 private:
  size_t capacity_;
  std::unique_ptr<uint8_t[]> data_;
};

}  // namespace jwtgate::jose

#endif  // JWTGATE_JOSE_PADDED_BUFFER_H_
