// VerifierCell (jwtgate/verifier_cell.h): a swap publishes the new verifier and releases the old
// one once no reader can see it (reloads and key updates no longer keep every verifier alive).
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <memory>
#include <thread>

#include "jwtgate/verifier_cell.h"
#include "test_support.h"

namespace jwtgate::test {
namespace {

std::shared_ptr<const Verifier> HsVerifier(std::string_view secret) {
  return std::make_shared<Verifier>(Keys().Hmac(secret, Alg::kHS256, "k").Build(),
                                    VerifierOptions{});
}

}  // namespace

TEST_CASE("VerifierCell: Store publishes the next verifier and releases the previous one",
          "[verifier_cell]") {
  std::shared_ptr<const Verifier> first = HsVerifier(kSecret);
  const std::weak_ptr<const Verifier> first_weak = first;
  VerifierCell cell(std::move(first));
  const std::string second_secret(32, 's');
  const std::string token_first = Hs256(R"({"alg":"HS256","kid":"k"})", PayloadExp());
  const std::string token_second =
      HmacJwsSegments(B64(R"({"alg":"HS256","kid":"k"})"), B64(PayloadExp()), second_secret);
  VerifyContext ctx;
  CHECK(cell.Verify(token_first, kNow, ctx, nullptr) == Status::kOk);
  CHECK(cell.Verify(token_second, kNow, ctx, nullptr) == Status::kSignatureInvalid);
  const uint64_t g = cell.generation();

  cell.Store(HsVerifier(second_secret));
  CHECK(cell.generation() == g + 1);
  CHECK(first_weak.expired());  // nobody held it: released by Store
  CHECK(cell.Verify(token_first, kNow, ctx, nullptr) == Status::kSignatureInvalid);
  CHECK(cell.Verify(token_second, kNow, ctx, nullptr) == Status::kOk);
}

TEST_CASE("VerifierCell: a reader keeps its verifier until it ends, and Store waits for it",
          "[verifier_cell][concurrency]") {
  std::shared_ptr<const Verifier> first = HsVerifier(kSecret);
  const std::weak_ptr<const Verifier> first_weak = first;
  VerifierCell cell(std::move(first));
  std::atomic<bool> reading{false}, release{false}, stored{false};
  std::atomic<bool> alive_in_reader{true};
  std::thread reader([&] {
    const VerifierCell::Reader r(cell);
    reading.store(true);
    while (!release.load()) std::this_thread::yield();
    // The verifier this reader loaded is still the first one, and still alive.
    alive_in_reader.store(!first_weak.expired());
  });
  while (!reading.load()) std::this_thread::yield();
  std::shared_ptr<const Verifier> second = HsVerifier(std::string(32, 's'));  // Catch: main thread
  std::thread writer([&] {
    cell.Store(std::move(second));
    stored.store(true);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  CHECK_FALSE(stored.load());  // Store waits for the reader of the previous verifier
  release.store(true);
  reader.join();
  writer.join();
  CHECK(alive_in_reader.load());
  CHECK(stored.load());
  CHECK(first_weak.expired());
}

}  // namespace jwtgate::test
