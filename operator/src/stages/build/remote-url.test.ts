import { describe, expect, it } from "vitest"
import { invalidCidrs, makeAddressPolicy } from "./ip-ranges.ts"
import { checkRemote, isRemoteFile, parseGitUrl, type RemotePolicy } from "./remote-url.ts"

// kustomize's own table (api/internal/git/repospec_test.go, TestNewRepoSpecFromUrl_Smoke): input → CloneSpec().
const smoke: ReadonlyArray<[string, string]> = [
  [
    "https://git-codecommit.us-east-2.amazonaws.com/someorg/somerepo/somedir",
    "https://git-codecommit.us-east-2.amazonaws.com/someorg/somerepo",
  ],
  [
    "https://git-codecommit.us-east-2.amazonaws.com/someorg/somerepo/somedir?ref=testbranch",
    "https://git-codecommit.us-east-2.amazonaws.com/someorg/somerepo",
  ],
  [
    "https://fabrikops2.visualstudio.com/someorg/somerepo?ref=master",
    "https://fabrikops2.visualstudio.com/someorg/somerepo",
  ],
  ["http://github.com/someorg/somerepo/somedir", "https://github.com/someorg/somerepo"],
  ["git@github.com:someorg/somerepo/somedir", "git@github.com:someorg/somerepo"],
  ["http://github.com/someorg/somerepo.git/somedir", "https://github.com/someorg/somerepo.git"],
  ["git@github.com:someorg/somerepo.git/somedir", "git@github.com:someorg/somerepo.git"],
  [
    "git@gitlab2.sqtools.ru:infra/kubernetes/thanos-base.git?ref=v0.1.0",
    "git@gitlab2.sqtools.ru:infra/kubernetes/thanos-base.git",
  ],
  ["git@bitbucket.org:company/project.git//path?ref=branch", "git@bitbucket.org:company/project.git"],
  ["git@bitbucket.org/company/project.git//path?ref=branch", "git@bitbucket.org/company/project.git"],
  [
    "ssh://git@bitbucket.org/company/project.git//path?ref=branch",
    "ssh://git@bitbucket.org/company/project.git",
  ],
  [
    "https://itfs.mycompany.com/collection/project/_git/somerepos",
    "https://itfs.mycompany.com/collection/project/_git/somerepos",
  ],
  [
    "https://itfs.mycompany.com/collection/project/_git/somerepos?version=v1.0.0",
    "https://itfs.mycompany.com/collection/project/_git/somerepos",
  ],
  [
    "https://itfs.mycompany.com/collection/project/_git/somerepos/somedir?version=v1.0.0",
    "https://itfs.mycompany.com/collection/project/_git/somerepos",
  ],
  [
    "git::https://itfs.mycompany.com/collection/project/_git/somerepos",
    "https://itfs.mycompany.com/collection/project/_git/somerepos",
  ],
  [
    "https://bitbucket.example.com/scm/project/repository.git",
    "https://bitbucket.example.com/scm/project/repository.git",
  ],
  [
    "ssh://git-codecommit.us-east-2.amazonaws.com/someorg/somerepo/somepath",
    "ssh://git-codecommit.us-east-2.amazonaws.com/someorg/somerepo",
  ],
  ["git@github.com/someorg/somerepo/somepath", "git@github.com:someorg/somerepo"],
  [
    "https://github.com/kubernetes-sigs/kustomize//examples/multibases/dev/?ref=v1.0.6",
    "https://github.com/kubernetes-sigs/kustomize",
  ],
  ["file://a/b/c/someRepo.git/somepath?ref=someBranch", "file://a/b/c/someRepo.git"],
  ["file://a/b/c/someRepo//somepath?ref=someBranch", "file://a/b/c/someRepo"],
  ["file://a/b/c/someRepo?ref=someBranch", "file://a/b/c/someRepo"],
  ["file:///a/b/c/someRepo?ref=someBranch", "file:///a/b/c/someRepo"],
  [
    "ssh://git@github.com/kubernetes-sigs/kustomize//examples/multibases/dev?ref=v1.0.6",
    "git@github.com:kubernetes-sigs/kustomize",
  ],
  ["file:///a/b/c/someRepo", "file:///a/b/c/someRepo"],
  ["file:///", "file:///"],
  ["https://example.org/path/to/repo//examples/multibases/dev", "https://example.org/path/to/repo"],
  ["https://example.org/path/to/repo.git/examples/multibases/dev", "https://example.org/path/to/repo.git"],
  ["ssh://alice@example.com/path/to/repo//examples/multibases/dev", "ssh://alice@example.com/path/to/repo"],
  ["https://authority/org/repo?ref=group/version", "https://authority/org/repo"],
  ["https://authority/org/repo/?ref=includes_git/for_some_reason", "https://authority/org/repo"],
  ["https://authority/org/repo/?ref=includes.git/for_some_reason", "https://authority/org/repo"],
  ["https://authority/org/repo/%-invalid-uri-so-not-parsable-by-net/url.Parse", "https://authority/org/repo"],
  [
    "ssh://myusername@bitbucket.org/ourteamname/ourrepositoryname.git//path?ref=branch",
    "ssh://myusername@bitbucket.org/ourteamname/ourrepositoryname.git",
  ],
  ["file://git@home/path/to/repository.git//path?ref=branch", "file://git@home/path/to/repository.git"],
  [
    "http://git@home.com/path/to/repository.git//path?ref=branch",
    "http://git@home.com/path/to/repository.git",
  ],
  [
    "https://git@home.com/path/to/repository.git//path?ref=branch",
    "https://git@home.com/path/to/repository.git",
  ],
  [
    "ssh://git@ssh.github.com:443/YOUR-USERNAME/YOUR-REPOSITORY.git",
    "ssh://git@ssh.github.com:443/YOUR-USERNAME/YOUR-REPOSITORY.git",
  ],
  ["git@gitlab.com/user:name/YOUR-REPOSITORY.git/path", "git@gitlab.com/user:name/YOUR-REPOSITORY.git"],
  ["git@gitlab.com:gitlab-tests/sample-project.git", "git@gitlab.com:gitlab-tests/sample-project.git"],
  ["git@gitlab.com:gitlab-tests/sample-project", "git@gitlab.com:gitlab-tests/sample-project"],
  [
    "https://username@dev.azure.com/org/project/_git/repo//path/to/kustomization/root",
    "https://username@dev.azure.com/org/project/_git/repo",
  ],
  [
    "https://org.visualstudio.com/project/_git/repo/path/to/kustomization/root",
    "https://org.visualstudio.com/project/_git/repo",
  ],
  ["ssh://org-12345@github.com/kubernetes-sigs/kustomize", "org-12345@github.com:kubernetes-sigs/kustomize"],
  ["org-12345@github.com/kubernetes-sigs/kustomize", "org-12345@github.com:kubernetes-sigs/kustomize"],
  [
    "git@gist.github.com:bc7947cb727d7f9217e7862d961a1ffd.git",
    "git@gist.github.com:bc7947cb727d7f9217e7862d961a1ffd.git",
  ],
  [
    "https://gist.github.com/bc7947cb727d7f9217e7862d961a1ffd.git",
    "https://gist.github.com/bc7947cb727d7f9217e7862d961a1ffd.git",
  ],
]

// TestNewRepoSpecFromUrlErrors: strings kustomize does not take as git URLs (they stay local paths).
const notGit = [
  "/tmp",
  "../../tmp",
  "src/github.com/org/repo/path",
  "iauhsdiuashduas",
  "htxxxtp://github.com/",
  "ssh://git.example.com",
  "git::___",
  "https://host?ref=group/version/minor_version",
  "https://github.com/org/repo.git//path/../../exits/repo",
  "github.com!org/repo.git//path",
  "gh:org/repo",
  "https://github.com/thisisa404.yaml",
  "file:////tmp//path/to/whatever",
  "git@scp://github.com/org/repo.git//path",
  "git@ssh://github.com/org/repo.git//path",
]

// TestNewRepoSpecFromUrl_Permute: host spellings and how kustomize normalizes them.
const hosts: ReadonlyArray<[string, string]> = [
  ["gitHub.com/", "https://github.com/"],
  ["github.com:", "https://github.com/"],
  ["http://github.com/", "https://github.com/"],
  ["hTTps://github.com/", "https://github.com/"],
  ["ssh://git.example.com:7999/", "ssh://git.example.com:7999/"],
  ["git::https://gitlab.com/", "https://gitlab.com/"],
  ["git::http://git.example.com/", "http://git.example.com/"],
  ["git@github.com:", "git@github.com:"],
  ["git@github.com/", "git@github.com:"],
  ["git::git@github.com:", "git@github.com:"],
  ["org-12345@github.com/", "org-12345@github.com:"],
]

describe("parseGitUrl: a port of kustomize's NewRepoSpecFromURL", () => {
  it.each(smoke)("%s clones %s", (input, cloneSpec) => {
    expect(parseGitUrl(input)?.cloneSpec).toBe(cloneSpec)
  })
  it.each(notGit)("%s is not a git URL", (input) => {
    expect(parseGitUrl(input)).toBeUndefined()
  })
  it("normalizes hosts and reads the ref like kustomize", () => {
    for (const [raw, normalized] of hosts)
      for (const repo of ["someOrg/someRepo", "kubernetes/website"])
        for (const sub of ["", "/foo/krusty.txt"])
          for (const ref of ["", "group/version", "v0.1.0"]) {
            const url = parseGitUrl(`${raw}${repo}${sub}${ref ? `?ref=${ref}` : ""}`)
            expect(url?.cloneSpec).toBe(`${normalized}${repo}`)
            expect(url?.ref).toBe(ref)
          }
  })
  it("isRemoteFile is kustomize's IsRemoteFile: http and https in any case, nothing else", () => {
    expect(["http://a/b", "HTTPS://a/b", "https:x"].every(isRemoteFile)).toBe(true)
    expect(["file:///etc/passwd", "git::https://a/b", " https://a", "a/https://b"].some(isRemoteFile)).toBe(
      false,
    )
  })
})

describe("the address policy", () => {
  const policy = makeAddressPolicy(["10.96.0.0/12", "fd00:10:96::/112"])
  it.each([
    ["127.0.0.1", "loopback"],
    ["127.255.0.9", "loopback"],
    ["::1", "loopback"],
    ["::ffff:127.0.0.1", "loopback"],
    ["0.0.0.0", "unspecified"],
    ["::", "unspecified"],
    ["169.254.169.254", "link-local"],
    ["::ffff:a9fe:a9fe", "link-local"],
    ["fe80::1", "link-local"],
    ["febf::1", "link-local"],
    ["fd00:ec2::254", "metadata"],
    ["100.100.100.200", "metadata"],
    ["10.96.0.1", "service network"],
    ["10.111.255.255", "service network"],
    ["fd00:10:96::1", "service network"],
  ])("%s is refused as %s", (ip, name) => {
    expect(policy.refused(ip)).toBe(name)
  })
  it.each(["8.8.8.8", "10.112.0.1", "192.168.1.1", "2606:4700::1111", "fec0::1", "::ffff:8.8.8.8"])(
    "%s is allowed",
    (ip) => {
      expect(policy.refused(ip)).toBeUndefined()
    },
  )
  it("validates CIDRs", () => {
    expect(invalidCidrs(["10.0.0.0/8", "10.0.0.0/33", "10.0.0.0", "x/1", "::/129", "::/0"])).toEqual([
      "10.0.0.0/33",
      "10.0.0.0",
      "x/1",
      "::/129",
    ])
    expect(() => makeAddressPolicy(["nope"])).toThrow("invalid service network CIDR 'nope'")
  })
})

describe("checkRemote", () => {
  const open: RemotePolicy = { noRemoteBases: false, addresses: makeAddressPolicy() }
  const closed: RemotePolicy = { ...open, noRemoteBases: true }
  it.each([
    ["https://93.184.215.14/p.yaml", "file"],
    ["https://93.184.215.14/org/repo//deploy?ref=v1.2", "git"],
    ["git@93.184.215.14:org/repo.git", "git"],
    ["ssh://git@93.184.215.14:2222/org/repo", "git"],
    ["https://[2606:4700::1111]/org/repo", "git"],
  ] as const)("allows %s (%s)", async (url, use) => {
    expect(await checkRemote(url, use, open)).toBeUndefined()
    expect((await checkRemote(url, use, closed))?.reason).toContain("--no-remote-bases")
  })
  it.each([
    ["http://93.184.215.14/p.yaml", "file", "plain http"],
    ["https://127.0.0.1/p.yaml", "file", "loopback"],
    ["https://localhost./p.yaml", "file", "resolves to a loopback"],
    ["https://0x7f.1/p.yaml", "file", "numeric address"],
    ["https://017700000001/p.yaml", "file", "numeric address"],
    ["https://a%2eb/p.yaml", "file", "plain DNS name"],
    ["https://u@93.184.215.14/p.yaml", "file", "plain https"],
    ["https://-oProxyCommand=x/p", "file", "plain DNS name"],
    ["https://93.184.215.14:99999/p", "file", "port"],
    ["git@-oProxyCommand=x:org/repo", "git", "plain DNS name"],
    ["git@93.184.215.14/org/repo", "git", "scp-style"],
    ["file:///srv/repo", "git", "file://"],
    ["git::http://93.184.215.14/org/repo", "git", "plain http"],
    ["https://github.com/org/repo?version=-c", "git", "git ref"],
    ["ssh://git@[fe80::1]/org/repo", "git", "link-local"],
    ["https://no-such-host.invalid/p.yaml", "file", "could not be resolved"],
  ] as const)("refuses %s (%s): %s", async (url, use, reason) => {
    expect((await checkRemote(url, use, open))?.reason).toContain(reason)
  })
})
