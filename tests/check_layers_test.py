#!/usr/bin/python3
"""scripts/check_layers.py on small synthetic trees: a clean tree passes; an upward include, an
include between siblings, an include cycle, a public header that reaches a higher layer or a
private header, a public header or folder without a layer and an include that cannot be placed
each fail with exit status 1 and a line naming the edge. With the repository root as a second
argument, the same injections into a copy of the real core/ are found as well (and only they).

Usage: check_layers_test.py PATH_TO_check_layers.py [REPO_ROOT]
"""

import os
import shutil
import subprocess
import sys
import tempfile
import unittest

SCRIPT = None
REPO = None

# A tree that follows the layers: every layer, the public headers of several layers, a
# template the build configures, system headers whose names look like layer folders.
CLEAN = {
    "core/include/jwtgate/status.h": "",
    "core/include/jwtgate/result.h": '#include "jwtgate/status.h"\n',
    "core/include/jwtgate/version.h.in": "#define JWTGATE_VERSION_STRING \"@V@\"\n",
    "core/include/jwtgate/keys.h": '#include "jwtgate/result.h"\n',
    "core/include/jwtgate/verifier.h": '#include "jwtgate/keys.h"\n#include <string_view>\n',
    "core/include/jwtgate/revocation.h": '#include "jwtgate/verifier.h"\n',
    "core/include/jwtgate/pipeline.h": '#include "jwtgate/verifier.h"\n',
    "core/base/epoch.h": "#include <atomic>\n",
    "core/base/epoch.cc": '#include "base/epoch.h"\n#include <net/if.h>\n',
    "core/jose/base64url.h": '#include "jwtgate/status.h"\n',
    "core/jose/base64url.cc": '#include "jose/base64url.h"\n#include "base/epoch.h"\n',
    "core/crypto/key.h": '#include "jose/base64url.h"\n#include "jwtgate/keys.h"\n',
    "core/crypto/key.cc": '#include "crypto/key.h"\n',
    "core/verify/claims_policy.h": '#include "jwtgate/status.h"\n',
    "core/verify/verifier.cc": ('#include "jwtgate/verifier.h"\n'
                                '  #  include "crypto/key.h"\n'
                                '#include "claims_policy.h"  // beside this file\n'),
    "core/revoke/store.cc": '#include "jwtgate/revocation.h"\n#include "verify/claims_policy.h"\n',
    "core/pipeline/ring.h": "",
    "core/pipeline/pipeline.cc": '#include "jwtgate/pipeline.h"\n#include "pipeline/ring.h"\n',
    "core/net/server.h": '#include "jwtgate/status.h"\n',
    "core/net/server.cc": ('#include "net/server.h"\n#include "base/epoch.h"\n'
                           '#include "jwtgate/version.h"\n#include <sys/eventfd.h>\n'),
    "core/store/redis.h": '#include "jwtgate/result.h"\n',
    "core/daemon/daemon.cc": ('#include "jwtgate/revocation.h"\n#include "jwtgate/pipeline.h"\n'
                              '#include "net/server.h"\n#include "store/redis.h"\n'
                              '#include "jwtgate/version.h"\n'),
    "core/cli/main.cc": '#include "jwtgate/verifier.h"\n#include "jose/base64url.h"\n',
    "core/CMakeLists.txt": '# #include "crypto/key.h" in a file that is not a source\n',
}


def run(root):
    return subprocess.run([sys.executable, SCRIPT, "--root", root], capture_output=True,
                          text=True, timeout=60)


def write_tree(root, files):
    for rel, text in files.items():
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)


class Synthetic(unittest.TestCase):
    def check(self, changes, expected):
        """Applies `changes` (path -> text, appended to an existing file) to the clean tree and
        expects exactly the problem lines `expected` (none: exit 0)."""
        files = dict(CLEAN)
        for rel, text in changes.items():
            files[rel] = files.get(rel, "") + text
        with tempfile.TemporaryDirectory() as d:
            write_tree(d, files)
            r = run(d)
        lines = r.stdout.splitlines()
        self.assertEqual(sorted(lines), sorted(expected), r.stdout + r.stderr)
        self.assertEqual(r.returncode, 1 if expected else 0, r.stdout + r.stderr)

    def test_clean_tree_passes(self):
        self.check({}, [])

    def test_upward_include(self):
        self.check({"core/jose/compact.cc": '#include "verify/claims_policy.h"\n'},
                   ["core/jose/compact.cc includes verify/claims_policy.h: jose may not depend "
                    "on verify"])

    def test_upward_include_of_a_file_not_yet_there(self):
        self.check({"core/base/cache.cc": '#include "pipeline/mpmc_ring.h"\n'},
                   ["core/base/cache.cc includes pipeline/mpmc_ring.h: base may not depend on "
                    "pipeline"])

    def test_cycle_between_layers(self):
        # crypto/key.h includes jose/base64url.h (allowed); the way back is not.
        self.check({"core/jose/base64url.h": '#include "crypto/key.h"\n'},
                   ["core/jose/base64url.h includes crypto/key.h: jose may not depend on crypto",
                    "include cycle: core/crypto/key.h -> core/jose/base64url.h -> "
                    "core/crypto/key.h"])

    def test_cycle_within_a_layer(self):
        self.check({"core/pipeline/ring.h": '#include "pipeline/queue.h"\n',
                    "core/pipeline/queue.h": '#include "pipeline/ring.h"\n'},
                   ["include cycle: core/pipeline/queue.h -> core/pipeline/ring.h -> "
                    "core/pipeline/queue.h"])

    def test_siblings_do_not_include_each_other(self):
        self.check({"core/revoke/store.cc": '#include "pipeline/ring.h"\n',
                    "core/pipeline/pipeline.cc": '#include "jwtgate/revocation.h"\n'},
                   ["core/revoke/store.cc includes pipeline/ring.h: revoke may not depend on "
                    "pipeline",
                    "core/pipeline/pipeline.cc includes jwtgate/revocation.h: pipeline may not "
                    "depend on revoke"])

    def test_net_and_store_stand_on_base_alone(self):
        self.check({"core/net/server.cc": '#include "jose/base64url.h"\n',
                    "core/store/redis.h": '#include "jwtgate/verifier.h"\n'},
                   ["core/net/server.cc includes jose/base64url.h: net may not depend on jose",
                    "core/store/redis.h includes jwtgate/verifier.h: store may not depend on "
                    "verify"])

    def test_executables_do_not_include_each_other(self):
        self.check({"core/cli/main.cc": '#include "daemon/config.h"\n'},
                   ["core/cli/main.cc includes daemon/config.h: cli may not depend on daemon"])

    def test_public_header_above_its_layer(self):
        self.check({"core/include/jwtgate/alg.h": '#include "jwtgate/verifier.h"\n'},
                   ["core/include/jwtgate/alg.h includes jwtgate/verifier.h: base may not "
                    "depend on verify"])

    def test_public_header_includes_private_header(self):
        self.check({"core/include/jwtgate/verifier.h": '#include "base/epoch.h"\n'},
                   ["core/include/jwtgate/verifier.h includes base/epoch.h: a public header may "
                    "include only public headers"])

    def test_public_header_without_layer(self):
        self.check({"core/include/jwtgate/extra.h": ""},
                   ["core/include/jwtgate/extra.h: public header extra.h has no layer (add it to "
                    "PUBLIC_HEADERS)"])

    def test_template_is_checked_as_the_header_it_becomes(self):
        self.check({"core/include/jwtgate/version.h.in": '#include "jwtgate/keys.h"\n'},
                   ["core/include/jwtgate/version.h includes jwtgate/keys.h: base may not "
                    "depend on crypto"])

    def test_folder_that_is_not_a_layer(self):
        self.check({"core/util/strings.cc": '#include "base/epoch.h"\n'},
                   ["core/util/strings.cc: folder util/ is not a layer"])

    def test_relative_and_angle_includes_are_resolved(self):
        self.check({"core/verify/verifier.cc": '#include "../pipeline/ring.h"\n',
                    "core/jose/base64url.cc": "#include <crypto/key.h>\n"},
                   ["core/verify/verifier.cc includes ../pipeline/ring.h: verify may not depend "
                    "on pipeline",
                    "core/jose/base64url.cc includes crypto/key.h: jose may not depend on "
                    "crypto"])

    def test_include_that_cannot_be_placed(self):
        self.check({"core/verify/verifier.cc": '#include "helpers.h"\n'},
                   ["core/verify/verifier.cc includes helpers.h: not a file of core/ and not in "
                    "a layer folder"])

    def test_missing_core_is_a_usage_error(self):
        with tempfile.TemporaryDirectory() as d:
            r = run(d)
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)


class RealTree(unittest.TestCase):
    """Injections into a copy of the repository's core/: exactly the injected edges appear."""

    def problems(self, root):
        r = run(root)
        self.assertIn(r.returncode, (0, 1), r.stdout + r.stderr)
        return set(r.stdout.splitlines())

    def test_injected_edges_are_found(self):
        injections = [
            ("core/verify/verified_token_cache.cc", "pipeline/mpmc_ring.h",
             "verify may not depend on pipeline"),
            ("core/jose/base64url.cc", "crypto/key.h", "jose may not depend on crypto"),
            ("core/base/epoch.cc", "revoke/bloom_filter.h", "base may not depend on revoke"),
            ("core/net/http_server.cc", "jwtgate/verifier.h", "net may not depend on verify"),
        ]
        with tempfile.TemporaryDirectory() as d:
            shutil.copytree(os.path.join(REPO, "core"), os.path.join(d, "core"))
            before = self.problems(d)
            expected = set()
            for rel, include, why in injections:
                path = os.path.join(d, rel)
                if not os.path.exists(path):
                    continue  # the file moved away; the synthetic cases still cover the rule
                with open(path, "a", encoding="utf-8") as f:
                    f.write(f'\n#include "{include}"\n')
                expected.add(f"{rel} includes {include}: {why}")
            self.assertTrue(expected, "none of the files to inject into exists")
            after = self.problems(d)
        self.assertEqual(after - before, expected)


def main():
    global SCRIPT, REPO
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    SCRIPT = os.path.abspath(sys.argv[1])
    REPO = os.path.abspath(sys.argv[2]) if len(sys.argv) > 2 else None
    suite = unittest.TestSuite()
    loader = unittest.TestLoader()
    suite.addTests(loader.loadTestsFromTestCase(Synthetic))
    if REPO is not None:
        suite.addTests(loader.loadTestsFromTestCase(RealTree))
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
