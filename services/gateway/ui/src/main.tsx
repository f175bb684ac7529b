import { render } from "preact";
import { App } from "./app";
import { installLinkInterception } from "./router";
import "./style.css";

installLinkInterception();
render(<App />, document.getElementById("app")!);
