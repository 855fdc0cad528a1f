// A file offered to the user from the page (results of a run through `rws serve`, an evaluation's
// tables): a Blob and a link the browser saves, in both hosts.

/** Ask the browser to save `text` as `name`. */
export function download(name: string, text: string, type: string): void {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = Object.assign(document.createElement('a'), { href: url, download: name });
  a.style.display = 'none';
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
