// A program that uses an installed libjwtgate: consumer JWKS_FILE TOKEN verifies TOKEN with the
// keys of JWKS_FILE at the current time, prints the status name and exits 0 only on ok.
// Built by consumer_test.sh with find_package(jwtgate) and with pkg-config.
#include <jwtgate/keys.h>
#include <jwtgate/verifier.h>
#include <jwtgate/version.h>

#include <ctime>
#include <fstream>
#include <iostream>
#include <sstream>

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: consumer JWKS_FILE TOKEN (libjwtgate " JWTGATE_VERSION_STRING ")\n";
    return 2;
  }
  std::ifstream file(argv[1]);
  std::ostringstream jwks;
  jwks << file.rdbuf();
  jwtgate::KeySet::Builder builder;
  jwtgate::Status s = builder.AddJwks(jwks.str());
  if (s == jwtgate::Status::kOk) {
    const jwtgate::Verifier verifier(builder.Build(), jwtgate::VerifierOptions{});
    s = verifier.Verify(argv[2], std::time(nullptr), nullptr);
  }
  std::cout << jwtgate::ToString(s) << "\n";
  return s == jwtgate::Status::kOk ? 0 : 1;
}
