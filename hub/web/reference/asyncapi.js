// The Socket.IO protocol reference: the AsyncAPI React component's standalone bundle
// (vendor/asyncapi-react, loaded before this file, parser included) on the AsyncAPI 3.0 document
// the page names in data-document. A file rather than an inline script, so that the page's
// Content-Security-Policy forbids inline scripts.
const root = document.getElementById("reference");

// Every ack comes back on the namespace of the event it answers, and the document says so: each
// operation's reply names the operation's own channel. The component renders that channel in full
// (every message of the namespace) under each reply, hidden behind "View channel details": with
// some 130 operations, most of a page of 400,000 elements that takes a minute to build. Without
// the repeated reference the page shows the same operations, messages and acks.
function withoutReplyChannels(document) {
  for (const operation of Object.values(document.operations ?? {})) {
    if (operation.reply?.channel?.$ref === operation.channel?.$ref) {
      delete operation.reply.channel;
    }
  }
  return document;
}

function failed(message) {
  const note = window.document.createElement("p");
  note.className = "reference-note";
  note.textContent = `The document ${root.dataset.document} could not be read: ${message}`;
  root.replaceChildren(note);
}

fetch(root.dataset.document, { credentials: "same-origin" })
  .then((response) => {
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    return response.json();
  })
  .then((document) => {
    AsyncApiStandalone.render(
      {
        schema: withoutReplyChannels(document),
        config: {
          show: { sidebar: true },
          // The document is written from the hub's side: it receives what a client emits and
          // sends what a client listens to. The labels say it from the side of whoever reads them.
          replyLabel: "Client emits",
          receiveLabel: "Client emits",
          sendLabel: "Hub sends",
        },
      },
      root,
    );
  })
  .catch((error) => failed(error.message));
